"""Every method through what users run: ``papermill notebooks/iterate.ipynb`` for iterations 1 and 2 on the tiny model,
each stage notebook to the end, the pair notebook showing the method's rows and the train notebook its curves.

A scripted sampler (`scripted_sampler.ScriptedSampler`) writes what the model would, so that every method finds
training rows; the tiny model trains for real. A method that finds none stops with its own message (last test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from conftest import REPO

from codelutra_nb.methods import METHODS

STAGES = ["01_sample.ipynb", "02_verify.ipynb", "03_pair.ipynb", "04_train.ipynb", "05_evaluate.ipynb"]
ROWS_SHOWN = {"codelutra": "rejected", "dpo_only": "rejected", "executability": "rejected", "dstc": "rejected",
              "plum": "label", "sft_gold": "completion", "sft_self": "completion"}  # fmt: skip
"""The column that tells each method's rows apart in the pair notebook's table (DPO pairs, KTO labels, SFT)."""
CURVE = {"plum": "KL", "sft_gold": "token accuracy", "sft_self": "token accuracy"}
"""What the train notebook's summary line names besides the loss (DPO methods: the reward margin)."""


def papermill(out, iteration: int, params: dict) -> subprocess.CompletedProcess:
    """``papermill notebooks/iterate.ipynb OUT -p iteration T`` on demo_python, with the scripted sampler importable."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-m", "papermill", "notebooks/iterate.ipynb", str(out), "-p", "preset", "demo_python"]
    argv += ["-p", "iteration", str(iteration), "-y", f"params: {json.dumps(params)}"]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)


def tiny_python_params(name: str, tiny_model_dir, store) -> dict:
    return {
        "method": name,
        "base_model": str(tiny_model_dir),
        "store_dir": str(store),
        "sampler": "scripted_sampler:ScriptedSampler",
        "train_limit": 2,
        "eval_limit": 2,
        "num_samples": 3,
        "max_length": 256,
        "train_batch_size": 2,
        "workers": 1,
        "dtype": "float32",
        "baseline": name == "codelutra",  # the base model's evaluation: 05_evaluate.ipynb runs in every iteration
        # sft_gold learns each gold once: iteration 2 needs a slice of its own
        **({"train_per_iteration": 1} if name == "sft_gold" else {}),
    }


def outputs(notebook) -> str:
    """Everything a notebook's code cells showed: text, tables, and ``<figure>`` for each image."""
    nb = nbformat.read(notebook, as_version=4)
    shown = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{notebook.name}: {output.get('evalue')}"
            shown.append(output.get("text", ""))
            data = output.get("data", {})
            shown.append(data.get("text/html", "") + data.get("text/plain", ""))
            shown.append("<figure>" if "image/png" in data else "")
    return "".join(shown)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_runs_every_stage_notebook_for_two_iterations(name, tiny_model_dir, tmp_path):
    store = tmp_path / "store"
    params = tiny_python_params(name, tiny_model_dir, store)
    for t in (1, 2):
        run = papermill(tmp_path / f"iteration-{t}.ipynb", t, params)
        assert run.returncode == 0, run.stderr[-3000:]
        executed = store / f"iter-{t}" / "notebooks"
        assert sorted(p.name for p in executed.glob("*.ipynb")) == STAGES
        pair, train = outputs(executed / "03_pair.ipynb"), outputs(executed / "04_train.ipynb")
        assert ROWS_SHOWN[name] in pair and "question" in pair and "no training rows" not in pair
        assert f"M({t}) after" in train and CURVE.get(name, "reward margin") in train and "<figure>" in train
        metrics = json.loads((store / f"iter-{t}" / "metrics.json").read_text())
        assert metrics["config"]["method"] == name and metrics["train"]["steps"] > 0 and metrics["eval"]["n"] == 2
    assert (store / "iter-0" / "metrics.json").exists() == (name == "codelutra")


def test_a_method_without_rows_shows_its_reason_in_the_pair_notebook_and_stops(tiny_model_dir, tmp_path):
    """sft_self with samples that are never correct (the tiny model's own): the pair notebook says why, then stops."""
    store = tmp_path / "store"
    params = tiny_python_params("sft_self", tiny_model_dir, store)
    params |= {"sampler": "transformers", "max_new_tokens": 4, "no_correct": "skip"}
    run = papermill(tmp_path / "out.ipynb", 1, params)
    assert run.returncode != 0
    message = "Iteration 1 has no correct sample to learn from (method sft_self)"
    assert message in run.stderr and "IndexError" not in run.stderr
    pair = outputs(store / "iter-1" / "notebooks" / "03_pair.ipynb")
    assert f"no training rows: {message}" in pair
