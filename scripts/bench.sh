#!/usr/bin/env bash
# Times resdepth and PyTorch training steps side by side, alternating rounds so that both see
# the same machine load, and prints a Markdown table of medians and their ratio.
#
#   scripts/bench.sh PYTHON [ROUNDS] [-- extra arguments for both, e.g. --widths 100 --depths 16]
#
# PYTHON is an interpreter with torch installed (see scripts/bench_pytorch.py). Build resdepth
# first with `cargo build --release`. Both run on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${1:?usage: bench.sh PYTHON [ROUNDS] [-- ARGS]}"
rounds="${2:-3}"
shift $(( $# >= 2 ? 2 : 1 ))
[[ "${1:-}" == "--" ]] && shift
log="$(mktemp)"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    target/release/resdepth bench "$@" >> "$log"
    "$python" scripts/bench_pytorch.py "$@" >> "$log"
done

"$python" - "$log" <<'PYEOF'
import collections, json, statistics, sys

times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    row = json.loads(line)
    framework = "resdepth" if row["framework"].startswith("resdepth") else "pytorch"
    times[(row["variant"], row["width"], row["depth"], framework)].append(row["ms_per_step"])
cases = sorted({key[:3] for key in times}, key=lambda case: (case[1], case[2], case[0]))
print("| variant | width | depth | resdepth ms/step | PyTorch ms/step | PyTorch / resdepth |")
print("|---|---:|---:|---:|---:|---:|")
for variant, width, depth in cases:
    ours = statistics.median(times[(variant, width, depth, "resdepth")])
    theirs = statistics.median(times[(variant, width, depth, "pytorch")])
    print(f"| {variant} | {width} | {depth} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f} |")
PYEOF
rm -f "$log"
