#!/usr/bin/env bash
# Creates, once, a virtual environment with PyTorch and the MNIST-1D reference package for the
# comparison scripts (bench.sh, sweep_compare.sh), and prints the path of its Python.
#
#   scripts/pytorch-venv.sh [DIR]
#
# DIR defaults to $RESDEPTH_PYTORCH_VENV, else target/pytorch-venv (ignored by git). Needs
# python3 with the venv module (Debian: apt-get install python3-venv) and access to PyPI.
# PyPI's Linux wheel of torch pulls in the CUDA libraries: the environment takes 5.6 GB. pip
# reads another package index from PIP_INDEX_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-${RESDEPTH_PYTORCH_VENV:-target/pytorch-venv}}"
if ! "$dir/bin/python" -c 'import torch, mnist1d' 2> /dev/null; then
    echo "installing PyTorch and mnist1d into $dir (once; 5.6 GB from PyPI)" >&2
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet torch==2.15.0 -r scripts/requirements-mnist1d.txt >&2
fi
echo "$dir/bin/python"
