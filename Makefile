PYTHON ?= python3

.PHONY: setup demo test

setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

# Two CodeLutra iterations of the embedded SmolLM2-135M on the bundled SQL tasks (CPU, minutes).
demo: setup
	mkdir -p runs
	$(PYTHON) -m papermill notebooks/iterate.ipynb runs/demo-iteration-1.ipynb -p iteration 1
	$(PYTHON) -m papermill notebooks/iterate.ipynb runs/demo-iteration-2.ipynb -p iteration 2

test: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -q -p no:cacheprovider tests
