#!/usr/bin/env bash
# One task of a Slurm job array that trains a sweep: task I of N trains shard I/N, and all
# tasks write into one results folder on a shared filesystem. Submit with submit.sh, or:
#
#   sbatch --array=0-7 scripts/slurm/sweep-array.sh experiments/mnist1d-depth.toml
#
# Arguments: the sweep config, then optionally the results folder (default: results).
# RESDEPTH points to the binary (default: target/release/resdepth, built beforehand with
# `cargo build --release` on a node that the tasks can read from).
#SBATCH --job-name=resdepth-sweep
#SBATCH --cpus-per-task=4
#SBATCH --mem-per-cpu=1G
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

config="${1:?usage: sweep-array.sh CONFIG [RESULTS]}"
results="${2:-results}"
resdepth="${RESDEPTH:-target/release/resdepth}"

# One run per allocated core; charts are drawn once by plot.sh after every task has ended.
exec "$resdepth" sweep "$config" --results "$results" --shard slurm \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" --no-charts --quiet
