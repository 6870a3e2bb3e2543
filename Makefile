PYTHON ?= python3
# --engine codelutra: papermill's engine with encrypted kernels, which do not warn (codelutra_nb/papermill_engine.py);
# --no-progress-bar: papermill's bar counts iterate.ipynb's cells, one of which runs the whole iteration.
PAPERMILL = $(PYTHON) -m papermill --engine codelutra --no-progress-bar

.PHONY: setup setup-vllm demo lab test

# What runs the loop; `make test` adds the dev extra (pytest, ruff), `make lab` the lab extra (JupyterLab).
setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

# vLLM in ~/.cache/codelutra_nb/venv-vllm, shared by every clone (its CPU build without CUDA), for sampler: vllm.
setup-vllm:
	PYTHON=$(PYTHON) bash scripts/setup_vllm.sh

# Two CodeLutra iterations of the embedded SmolLM2-135M on the bundled SQL tasks (CPU, minutes).
# The terminal shows one line per stage as it starts and as it ends, and the bar of the current long step.
demo: setup
	mkdir -p runs
	$(PAPERMILL) notebooks/iterate.ipynb runs/demo-iteration-1.ipynb -p iteration 1
	$(PAPERMILL) notebooks/iterate.ipynb runs/demo-iteration-2.ipynb -p iteration 2

# JupyterLab on notebooks/: the stage notebooks, iterate.ipynb and compare.ipynb.
lab:
	PYTHON=$(PYTHON) bash scripts/setup.sh lab
	$(PYTHON) -m jupyterlab notebooks/

test:
	PYTHON=$(PYTHON) bash scripts/setup.sh dev
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -q -p no:cacheprovider tests
