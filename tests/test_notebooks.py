"""The notebooks are thin papermill programs; one end-to-end run uses the real embedded model."""

import json
import subprocess
import sys

import nbformat
import pytest
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_committed_notebooks_match_their_builder(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "tools"))
    import build_notebooks

    monkeypatch.setattr(build_notebooks, "NOTEBOOKS", tmp_path)
    build_notebooks.main()
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in NOTEBOOKS]
    for nb in NOTEBOOKS:
        assert (tmp_path / nb.name).read_text() == nb.read_text(), f"{nb.name}: run python tools/build_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_has_one_parameters_cell_and_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    expected = "runs = " if path.name == "compare.ipynb" else "iteration = 1"  # compare reads finished runs
    assert len(tagged) == 1 and expected in tagged[0].source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def _papermill(out, *args):
    return subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/iterate.ipynb", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_unknown_parameter_fails_at_once_naming_it(tmp_path):
    run = _papermill(tmp_path / "out.ipynb", "-y", "params: {tempreture: 0.7}")
    assert run.returncode != 0
    assert (
        "Unknown parameter 'tempreture'" in run.stderr + run.stdout
        and "Did you mean 'temperature'" in run.stderr + run.stdout
    )


def test_two_iterations_with_the_embedded_model(tmp_path, embedded_dir):
    """The README's demo, shrunk: papermill iterate.ipynb for iterations 1 and 2 on SmolLM2-135M, with the
    transformers sampler: the engine of a machine without vLLM (test_vllm_sampler runs the notebook with vLLM)."""
    from datasets import load_from_disk
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    store = tmp_path / "store"
    params = json.dumps(
        {
            "store_dir": str(store),
            "train_limit": 4,
            "eval_limit": 3,
            "num_samples": 2,
            "max_new_tokens": 32,
            "eval_max_new_tokens": 32,
            "sampler": "transformers",
        }
    )
    for t in (1, 2):
        run = _papermill(tmp_path / f"iteration-{t}.ipynb", "-p", "iteration", str(t), "-y", f"params: {params}")
        assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == ["iter-0", "iter-1", "iter-2"]
    base = AutoModelForCausalLM.from_pretrained(embedded_dir)
    for t in (1, 2):
        it = store / f"iter-{t}"
        pairs = load_from_disk(str(it / "preferences"))
        assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names) and len(pairs) > 0
        assert isinstance(PeftModel.from_pretrained(base, it / "adapter", adapter_name=f"it{t}"), PeftModel)
        metrics = json.loads((it / "metrics.json").read_text())
        assert metrics["iteration"] == t and metrics["eval"]["n"] == 3
        assert {"accuracy", "executable_rate", "categories"} <= set(metrics["eval"])
        executed = sorted(p.name for p in (it / "notebooks").glob("*.ipynb"))
        assert executed == [
            "01_sample.ipynb",
            "02_verify.ipynb",
            "03_pair.ipynb",
            "04_train.ipynb",
            "05_evaluate.ipynb",
        ]
        assert all(p.stat().st_size < 300_000 for p in (it / "notebooks").glob("*.ipynb"))  # Colab-friendly
    assert (store / "iter-0" / "metrics.json").exists() and (store / "progress.png").exists()
    assert (tmp_path / "iteration-2.ipynb").stat().st_size < 300_000
