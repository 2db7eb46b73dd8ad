#!/usr/bin/env bash
# Draws a sweep's charts once every task of its job array has ended (submit.sh queues it with
# a dependency on the array). Arguments: the sweep's results folder, e.g. results/mnist1d-depth.
#SBATCH --job-name=resdepth-plot
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:10:00
#SBATCH --output=slurm-%j.out
set -euo pipefail

sweep_dir="${1:?usage: plot.sh RESULTS_DIR}"
resdepth="${RESDEPTH:-target/release/resdepth}"
exec "$resdepth" plot "$sweep_dir"
