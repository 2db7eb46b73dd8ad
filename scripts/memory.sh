#!/usr/bin/env bash
# Measures the resident memory of one training run across its epochs: a residual-bn MLP of
# width 100 and depth 64 on MNIST-1D (the reference sweep's largest run), 40 epochs, one job.
# Prints the peak resident size per epoch, so growth across epochs (a leaking autodiff graph
# or cache) shows as a rising column.
#
#   scripts/memory.sh [VARIANT] [DEPTH]
#
# Build resdepth first with `cargo build --release`. Linux only (reads /proc).
set -euo pipefail
cd "$(dirname "$0")/.."

variant="${1:-residual-bn}"
depth="${2:-64}"
binary=target/release/resdepth
if [[ ! -x "$binary" ]]; then
    echo "error: $binary not found; build it with cargo build --release" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/memory.toml" <<TOML
name = "memory"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 100
[sweep]
variants = ["$variant"]
depths = [$depth]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 40
TOML

"$binary" sweep "$work/memory.toml" --results "$work" --jobs 1 --quiet --no-charts \
    > "$work/log" 2>&1 &
pid=$!
# One sample every 0.2 s: the number of epochs written so far and the resident size in KiB.
while kill -0 "$pid" 2> /dev/null; do
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2> /dev/null || true)"
    # metrics.jsonl gains a line per epoch, in the run's partial folder while it trains.
    epochs="$( (cat "$work"/memory/runs/*/metrics.jsonl 2> /dev/null || true) | wc -l)"
    [[ -n "$rss" ]] && echo "$epochs $rss" >> "$work/samples"
    sleep 0.2
done
wait "$pid" || { cat "$work/log" >&2; exit 1; }

python3 - "$work/samples" "$variant" "$depth" <<'PYEOF'
import collections, sys

peaks = collections.defaultdict(int)
for line in open(sys.argv[1]):
    epochs, rss = map(int, line.split())
    # Samples taken while epoch `epochs` trains (epoch 0 is the probe and first evaluation).
    peaks[epochs] = max(peaks[epochs], rss)
print(f"{sys.argv[2]}, width 100, depth {sys.argv[3]}: peak resident MiB while each epoch trains")
for epoch in sorted(peaks):
    print(f"epoch {epoch:2d}: {peaks[epoch] / 1024:7.1f}")
first, last = peaks[min(k for k in peaks if k >= 1)], peaks[max(peaks)]
print(f"epoch 1 to last: {first / 1024:.1f} -> {last / 1024:.1f} MiB ({(last - first) / 1024:+.1f})")
PYEOF
