"""`python -m codelutra_nb evaluate`: pass@1 of any base model or adapter, without a run store (tiny random model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from hub_server import USER, serving

from codelutra_nb import stages
from codelutra_nb.cli import main
from codelutra_nb.hub import HubStore
from codelutra_nb.store import LocalStore

SMALL = [
    "--set",
    "eval_limit=3",
    "--set",
    "eval_max_new_tokens=8",
    "--set",
    "dtype=float32",
    "--set",
    "sampler=transformers",
]


def _evaluate(model: Path, out: Path, *extra: str) -> int:
    return main(
        ["evaluate", "--model", str(model), "--kind", "sql", "--tasks", "demo-sql/eval", "--out", str(out)]
        + [*SMALL, *extra]
    )


def _answers(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter of the tiny model with random (non-zero) weights: it changes what the model writes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    get_peft_model(base, LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False)).save_pretrained(folder)
    return folder


def test_writes_a_runs_metrics_and_the_answers_as_the_evaluate_stage_does(tiny_cfg, tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    assert _evaluate(tiny_model_dir, out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"eval", "eval_by_database", "adapter", "timings_s", "config"}
    assert set(metrics["eval"]) == {
        "accuracy",
        "accuracy_ci",
        "executable_rate",
        "executable_rate_ci",
        "n",
        "categories",
        "by_group",
    }
    assert metrics["eval"]["n"] == 3 and sum(g["n"] for g in metrics["eval"]["by_group"].values()) == 3
    assert sum(metrics["eval"]["categories"].values()) == 3
    assert sum(db["n"] for db in metrics["eval_by_database"].values()) == 3
    assert metrics["adapter"] is None and metrics["config"]["base_model"] == str(tiny_model_dir)
    assert metrics["config"]["eval_limit"] == 3 and metrics["config"]["eval_max_new_tokens"] == 8
    answers = _answers(out)
    assert len(answers) == 3
    assert all({"task_id", "db_id", "completion", "category", "correct"} <= set(a) for a in answers)

    # One evaluation in one place: the evaluate stage writes the same answers and numbers for the same parameters.
    stages.baseline_stage(tiny_cfg, LocalStore(tiny_cfg.run.store_dir))
    store = LocalStore(tiny_cfg.run.store_dir)
    assert store.fetch(0, "evaluation").read_text() == (out / "eval.jsonl").read_text()
    staged = store.read_json(0, "metrics")
    staged["eval"].pop("unseen", None)  # only the stage knows the training set
    assert (staged["eval"], staged["eval_by_database"]) == (metrics["eval"], metrics["eval_by_database"])


def test_a_local_adapter_changes_the_answers(tiny_model_dir, adapter_dir, tmp_path):
    greedy = ("--set", "eval_greedy=true")
    assert _evaluate(tiny_model_dir, tmp_path / "base", *greedy) == 0
    assert _evaluate(tiny_model_dir, tmp_path / "tuned", "--adapter", str(adapter_dir), *greedy) == 0
    base, tuned = _answers(tmp_path / "base"), _answers(tmp_path / "tuned")
    assert [a["task_id"] for a in base] == [a["task_id"] for a in tuned]
    assert [a["completion"] for a in base] != [a["completion"] for a in tuned]
    assert json.loads((tmp_path / "tuned" / "metrics.json").read_text())["adapter"] == str(adapter_dir)


def test_a_hub_adapter_at_a_revision_is_the_same_adapter(tiny_model_dir, adapter_dir, tmp_path, monkeypatch, capsys):
    repo = f"{USER}/eval-adapters"
    with serving(tmp_path, monkeypatch):
        pushing = HubStore(tmp_path / "pushing", model_repo=repo, dataset_repo=None)
        with pushing.writing(1, "adapter") as path:  # the loop's own push: branch iter-1 (and main)
            shutil.copytree(adapter_dir, path)
        assert _evaluate(tiny_model_dir, tmp_path / "hub", "--adapter", f"{repo}@iter-1") == 0
        capsys.readouterr()
        assert _evaluate(tiny_model_dir, tmp_path / "x", "--adapter", f"{repo}@iter-9") == 2
        assert f"Hub repo {repo} has no revision 'iter-9'" in capsys.readouterr().err
        assert _evaluate(tiny_model_dir, tmp_path / "x", "--adapter", f"{USER}/no-such-adapters") == 2
        assert f"no Hub model repo {USER}/no-such-adapters" in capsys.readouterr().err
    assert _evaluate(tiny_model_dir, tmp_path / "local", "--adapter", str(adapter_dir)) == 0
    assert (tmp_path / "hub" / "eval.jsonl").read_text() == (tmp_path / "local" / "eval.jsonl").read_text()


def test_a_missing_adapter_folder_exits_2_with_the_fix_and_no_traceback(tiny_model_dir, tmp_path):
    missing = tmp_path / "runs" / "demo" / "iter-9" / "adapter"
    run = subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "evaluate", "--model", str(tiny_model_dir), "--kind", "sql"]
        + ["--tasks", "demo-sql/eval", "--out", str(tmp_path / "out"), "--adapter", str(missing)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"error: Adapter '{missing}': there is no folder {missing}")
    assert "save_pretrained" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_no_adapter_is_named(tiny_model_dir, tmp_path, capsys):
    assert _evaluate(tiny_model_dir, tmp_path / "out", "--adapter", str(tiny_model_dir)) == 2
    err = capsys.readouterr().err
    assert "has no adapter_config.json, so it is not a PEFT adapter" in err and "whole model" in err


def test_an_unknown_parameter_exits_2_naming_it(tiny_model_dir, tmp_path, capsys):
    assert _evaluate(tiny_model_dir, tmp_path / "out", "--set", "eval_limt=3") == 2
    err = capsys.readouterr().err
    assert "Unknown parameter 'eval_limt'" in err and "Did you mean 'eval_limit'?" in err
    assert not (tmp_path / "out").exists()
