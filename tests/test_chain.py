"""The chain of stage notebooks on the tiny model: Run All of iterate.ipynb, the terminal's lines, a failed stage."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import REPO

STAGE_NOTEBOOKS = ["01_sample.ipynb", "02_verify.ipynb", "03_pair.ipynb", "04_train.ipynb", "05_evaluate.ipynb"]

END_NUMBERS = {
    "baseline": r"M\(0\) held-out accuracy \d+\.\d% \(\d+/3\), executable \d+\.\d%",
    "sample": r"8 samples of 4 questions from M\(0\)",
    "verify": r"8 samples, \d+\.\d% correct, \d+\.\d% executable",
    "pair": r"\d+ pairs",
    "train": r"M\(1\) after \d+ steps: loss [\d.]+ → [\d.]+, reward margin [-\d.e]+ → [-\d.e]+, "
    r"reward accuracy [\d.]+ → [\d.]+",
    "evaluate": r"M\(1\) held-out accuracy \d+\.\d% \(\d+/3\), executable \d+\.\d%",
}
"""The end line of each stage of iteration 1 on the tiny preset (4 training questions, K = 2, 3 held-out)."""


def _check_iteration_1(store):
    assert json.loads((store / "iter-0" / "metrics.json").read_text())["iteration"] == 0
    it = store / "iter-1"
    for artifact in ("samples.jsonl", "verdicts.jsonl", "preferences", "adapter", "eval.jsonl"):
        assert (it / artifact).exists(), artifact
    metrics = json.loads((it / "metrics.json").read_text())
    assert metrics["iteration"] == 1 and metrics["eval"]["n"] == 3
    assert {"accuracy", "executable_rate", "categories"} <= set(metrics["eval"]) and metrics["train"]["steps"] > 0
    assert sorted(p.name for p in (it / "notebooks").glob("*.ipynb")) == STAGE_NOTEBOOKS
    assert [p.name for p in (store / "iter-0" / "notebooks").glob("*.ipynb")] == ["05_evaluate.ipynb"]


def test_run_all_of_iterate_notebook_as_a_person_would(tiny_preset, tmp_path):
    """iterate.ipynb top to bottom with nbclient, no papermill parameters: only the preset line edited, as typed."""
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "iterate.ipynb", as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    lines = params.source.splitlines()
    assert sum(line.startswith("preset = ") for line in lines) == 1
    params.source = "\n".join(f'preset = "{tiny_preset}"' if line.startswith("preset = ") else line for line in lines)
    workdir = tmp_path / "work"
    workdir.mkdir()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()

    _check_iteration_1(tmp_path / "store")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "✓ iteration 1 · evaluate (6/6) done in" in printed  # the chain's lines are in the notebook too


def test_make_demo_shows_each_stage_and_its_bars_on_the_terminal(tiny_preset, tmp_path):
    """What `make demo` runs (papermill on iterate.ipynb, the Makefile's PAPERMILL) prints, on the tiny preset."""
    (command,) = re.findall(r"^PAPERMILL = (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    argv = shlex.split(command.replace("$(PYTHON)", shlex.quote(sys.executable)))
    argv += ["notebooks/iterate.ipynb", str(tmp_path / "out.ipynb"), "-p", "preset", str(tiny_preset)]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # kernels as in a terminal
    run = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]

    shown = run.stdout + run.stderr
    assert "Kernel is running over TCP" not in shown and "IProgress not found" not in shown
    lines = [line.strip() for line in re.split(r"[\r\n]+", shown) if line.strip()]
    stage_lines = [line for line in lines if line[:1] in "▶✓✗"]
    expected = []
    for number, (stage, numbers) in enumerate(END_NUMBERS.items(), 1):
        name = rf"iteration 1 · {stage} \({number}/6\)"
        expected += [rf"▶ {name}: \S+\.ipynb", rf"✓ {name} done in (?:[\d.]+ s|\d+ min \d+ s): {numbers}"]
    assert len(stage_lines) == len(expected), "\n".join(stage_lines)
    for line, pattern in zip(stage_lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    for bar in ("sampling M(0)", "evaluating M(1)", "training"):
        assert any(line.startswith(f"{bar}: 100%|") for line in lines), bar  # tqdm bars, drawn to the end
    _check_iteration_1(tmp_path / "store")


def test_a_failed_stage_stops_the_chain_with_its_notebook(tiny_cfg, tmp_path, monkeypatch, capfd):
    """papermill's error, the failed stage's executed notebook kept, no later stage run, the kernel stopped."""
    import papermill as pm
    from jupyter_core.utils import run_sync

    from codelutra_nb import chain

    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    pair = nbformat.read(notebooks / "03_pair.ipynb", as_version=4)
    pair.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("pairing went wrong")'))
    nbformat.write(pair, notebooks / "03_pair.ipynb")
    monkeypatch.setattr(chain, "NOTEBOOK_DIR", notebooks)
    kernels = []

    class Kernel(chain.StageKernel):
        def launch(self):
            kernels.append(self)
            return super().launch()

    monkeypatch.setattr(chain, "StageKernel", Kernel)

    with pytest.raises(pm.PapermillExecutionError, match="pairing went wrong"):
        chain.run_notebooks(tiny_cfg)

    executed = Path(tiny_cfg.run.store_dir) / "iter-1" / "notebooks"
    assert sorted(p.name for p in executed.iterdir()) == ["01_sample.ipynb", "02_verify.ipynb", "03_pair.ipynb"]
    failed = nbformat.read(executed / "03_pair.ipynb", as_version=4)
    assert any(o.output_type == "error" for c in failed.cells if c.cell_type == "code" for o in c.outputs)
    assert len(kernels) == 1 and not run_sync(kernels[0].is_alive)()
    assert "✗ iteration 1 · pair (4/6) failed after" in capfd.readouterr().out
