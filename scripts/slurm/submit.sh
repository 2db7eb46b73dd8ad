#!/usr/bin/env bash
# Submits a sweep as a Slurm job array of N shards, then a job that draws the charts after
# all shards have ended (whether or not they succeeded, so a partial sweep still gets charts).
#
#   scripts/slurm/submit.sh experiments/mnist1d-depth.toml 8 [results]
#
# Run it from the repository root after `cargo build --release`. A shard that fails or times
# out can be resubmitted on its own: finished runs are skipped and runs held by another live
# process are left to it.
#
# CPUS_PER_TASK overrides the cores each shard requests (4 in sweep-array.sh). Set it on nodes
# with fewer cores, because Slurm 22.05 keeps a job that requests more cores than any node has
# pending with reason PartitionConfig, or rejects it where EnforcePartLimits is set. sbatch
# itself reads SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_OUTPUT and the other SBATCH_* variables.
set -euo pipefail

config="${1:?usage: submit.sh CONFIG SHARDS [RESULTS]}"
shards="${2:?usage: submit.sh CONFIG SHARDS [RESULTS]}"
results="${3:-results}"
name="$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$config" | head -n 1)"
name="${name:-$(basename "$config" .toml)}"

cpus_option=()
if [ -n "${CPUS_PER_TASK:-}" ]; then cpus_option=(--cpus-per-task="$CPUS_PER_TASK"); fi

array_id="$(sbatch --parsable --array="0-$((shards - 1))" "${cpus_option[@]}" \
    scripts/slurm/sweep-array.sh "$config" "$results")"
plot_id="$(sbatch --parsable --dependency="afterany:${array_id}" \
    scripts/slurm/plot.sh "$results/$name")"
echo "submitted job array ${array_id} (${shards} shards) and chart job ${plot_id}"
