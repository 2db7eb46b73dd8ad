#!/usr/bin/env bash
# Times resdepth (fused and autodiff steps) and PyTorch training steps side by side, alternating
# rounds so that all see the same machine load, and prints a Markdown table of medians and their
# ratios. It also measures one thread's 1024^3 matrix product in PyTorch, the ceiling against
# which the last column compares the fused step's matrix products.
#
#   scripts/bench.sh [PYTHON [ROUNDS]] [-- extra arguments for both, e.g. --widths 100 --depths 16]
#
# PYTHON is an interpreter with torch installed; without it, scripts/pytorch-venv.sh creates
# one. ROUNDS defaults to 3. Build resdepth first with `cargo build --release`. Both run on one
# thread.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
rounds=3
if [[ $# -gt 0 && "$1" != "--" ]]; then python="$1"; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then rounds="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift
[[ -n "$python" ]] || python="$(scripts/pytorch-venv.sh)"
log="$(mktemp)"

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    "$python" scripts/bench_pytorch.py --matmul-ceiling >> "$log"
    target/release/resdepth bench --engine fused "$@" >> "$log"
    target/release/resdepth bench --engine autodiff "$@" >> "$log"
    "$python" scripts/bench_pytorch.py "$@" >> "$log"
done

"$python" - "$log" <<'PYEOF'
import collections, json, statistics, sys

times = collections.defaultdict(list)
batch_sizes = {}
ceilings = []
for line in open(sys.argv[1]):
    row = json.loads(line)
    if "matmul_gflop_per_second" in row:
        ceilings.append(row["matmul_gflop_per_second"])
        continue
    framework = {"resdepth-fused": "fused", "resdepth-flex": "autodiff"}.get(row["framework"], "pytorch")
    times[(row["variant"], row["width"], row["depth"], framework)].append(row["ms_per_step"])
    batch_sizes[(row["variant"], row["width"], row["depth"])] = row["batch_size"]
ceiling = statistics.median(ceilings)


def step_gflop(width, depth, batch, inputs=40, classes=10):
    """Matrix-product work of one MLP step: forward, weight gradients, input gradients (none for
    the stem)."""
    products = inputs * width + depth * width * width + width * classes
    return 2 * batch * (3 * products - inputs * width) / 1e9


print(f"Matrix-product ceiling (PyTorch, one thread, 1024^3): {ceiling:.0f} GFLOP/s\n")
cases = sorted({key[:3] for key in times}, key=lambda case: (case[1], case[2], case[0]))
print("| variant | width | depth | fused ms | autodiff ms | PyTorch ms | PyTorch / fused "
      "| PyTorch / autodiff | fused / matmul at ceiling |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for variant, width, depth in cases:
    fused, autodiff, pytorch = (
        statistics.median(times[(variant, width, depth, framework)])
        for framework in ("fused", "autodiff", "pytorch")
    )
    floor = step_gflop(width, depth, batch_sizes[(variant, width, depth)]) / ceiling * 1000
    print(f"| {variant} | {width} | {depth} | {fused:.2f} | {autodiff:.2f} | {pytorch:.2f} "
          f"| {pytorch / fused:.2f} | {pytorch / autodiff:.2f} | {fused / floor:.2f} |")
PYEOF
rm -f "$log"
