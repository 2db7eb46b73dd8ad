#!/usr/bin/env bash
# Times the reference sweep (experiments/mnist1d-depth.toml) in resdepth and in PyTorch, one
# after the other, ROUNDS times in alternation, and prints each wall time and the ratio
# PyTorch / resdepth. Both use JOBS worker processes or threads of one thread each.
#
#   scripts/sweep_compare.sh [PYTHON [ROUNDS [JOBS]]] [-- extra arguments for resdepth sweep]
#
# PYTHON is an interpreter with torch and the mnist1d requirements installed; without it,
# scripts/pytorch-venv.sh creates one. ROUNDS defaults to 1 and JOBS to 2. Build resdepth first
# with `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
rounds=1
jobs=2
if [[ $# -gt 0 && "$1" != "--" ]]; then python="$1"; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then rounds="$1"; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then jobs="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift
[[ -n "$python" ]] || python="$(scripts/pytorch-venv.sh)"
binary=target/release/resdepth
if [[ ! -x "$binary" ]]; then
    echo "error: $binary not found; build it with cargo build --release" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for round in $(seq 1 "$rounds"); do
    rm -rf "$work/results"
    started=$(date +%s.%N)
    "$binary" sweep experiments/mnist1d-depth.toml --results "$work/results" --jobs "$jobs" \
        --no-charts --quiet "$@" 2> "$work/resdepth.log" || { cat "$work/resdepth.log" >&2; exit 1; }
    ours=$("$python" -c 'import sys; print(float(sys.argv[1]) - float(sys.argv[2]))' \
        "$(date +%s.%N)" "$started")
    "$python" scripts/sweep_pytorch.py --jobs "$jobs" > "$work/pytorch.jsonl"
    theirs=$("$python" -c 'import json, sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["wall_seconds"])' "$work/pytorch.jsonl")
    "$python" -c 'import sys; r, a, b = sys.argv[1:]; print(f"round {r}: resdepth {float(a):.1f} s, PyTorch {float(b):.1f} s, PyTorch / resdepth {float(b) / float(a):.2f}")' \
        "$round" "$ours" "$theirs"
done
