"""A store knows what made each artifact: a run with other values is refused before any work, naming each difference;
an unchanged rerun skips; ``force`` redoes; stores written before records existed keep working; the Hub alike."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import TINY_PARAMS

from codelutra_nb import provenance, stages
from codelutra_nb.config import load_config
from codelutra_nb.errors import StaleArtifactError
from codelutra_nb.methods.testgen import GENERATION_PARAMS
from codelutra_nb.store import LocalStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def made(tiny_model_dir, tmp_path_factory):
    """Iteration 1 (and the base model's evaluation) of the tiny demo, made once for the module."""
    store = tmp_path_factory.mktemp("made") / "store"
    cfg = load_config("demo", base_model=str(tiny_model_dir), store_dir=str(store), **TINY_PARAMS)
    stages.run_iteration(cfg)
    return cfg


@pytest.fixture
def cfg(made, tmp_path):
    """The module's config on a copy of its store."""
    shutil.copytree(made.run.store_dir, tmp_path / "store")
    return made.replace(store_dir=str(tmp_path / "store"))


def snapshot(root: str | Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"method": "dpo_only"}, ["iter-1/samples.jsonl: method was 'codelutra', now 'dpo_only'", "preferences: "]),
        ({"beta": 0.2}, ["iter-1/adapter: beta was 0.1, now 0.2"]),
        ({"num_samples": 3}, ["iter-1/samples.jsonl: num_samples was 2, now 3"]),
        ({"train_limit": 3}, ["iter-1/samples.jsonl: train_limit was 4, now 3", "verdicts.jsonl: train_limit was 4"]),
        ({"eval_limit": 2}, ["iter-0/metrics.json: eval_limit was 3, now 2", "iter-1/metrics.json: eval_limit was 3"]),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, dict) else None,
)
def test_other_values_are_refused_before_any_work_naming_each_and_nothing_is_written(cfg, changes, expected):
    before = snapshot(cfg.run.store_dir)
    with pytest.raises(StaleArtifactError) as refused:
        stages.run_iteration(cfg.replace(**changes))
    message = str(refused.value)
    for part in expected:
        assert part in message, message
    assert "nothing was run or written" in message and "a new store_dir" in message and "force: true" in message
    stored = ", ".join(f"{name}: {cfg.to_dict()[name]!r}" for name in changes)
    assert f'-y "params: {{{stored}}}"' in message
    assert snapshot(cfg.run.store_dir) == before


def test_another_base_model_is_refused_at_every_stage_it_shapes(cfg, tmp_path):
    other = shutil.copytree(cfg.model.base_model, tmp_path / "other-model")
    with pytest.raises(StaleArtifactError) as refused:
        stages.run_iteration(cfg.replace(base_model=str(other)))
    for artifact in ("iter-0/metrics.json", "iter-1/samples.jsonl", "iter-1/adapter", "iter-1/metrics.json"):
        assert f"{artifact}: base_model was '{cfg.model.base_model}'" in str(refused.value)


def test_an_unchanged_rerun_skips_every_stage_and_rewrites_no_artifact(cfg):
    before = snapshot(Path(cfg.run.store_dir) / "iter-1")
    summaries = stages.run_iteration(cfg)
    assert [s["stage"] for s in summaries] == ["sample", "verify", "pair", "train", "evaluate"]
    assert all(s["skipped"] for s in summaries)
    assert snapshot(Path(cfg.run.store_dir) / "iter-1") == before


def test_force_redoes_and_what_was_made_from_the_old_artifact_is_then_refused(cfg):
    store = LocalStore(cfg.run.store_dir)
    old = store.read_json(1, "provenance")
    changed = cfg.replace(beta=0.2)
    stages.run_stages(changed.replace(force=True), ["train"])
    new = store.read_json(1, "provenance")
    assert new["adapter"]["params"]["beta"] == 0.2 and new["adapter"]["id"] != old["adapter"]["id"]
    assert new["adapter"]["inputs"] == {"iter-1/preferences": old["preferences"]["id"]}
    with pytest.raises(StaleArtifactError, match=r"iter-1/metrics.json: made from another iter-1/adapter \(it was"):
        stages.run_iteration(changed)
    assert stages.run_iteration(changed.replace(force=True))[-1]["stage"] == "evaluate"
    assert all(s.get("skipped") for s in stages.run_iteration(changed))


def test_a_resume_point_made_with_other_values_is_refused(cfg):
    it = Path(cfg.run.store_dir) / "iter-1"
    for name in ("samples.jsonl", "verdicts.jsonl", "verdicts.shards", "preferences", "adapter", "metrics.json"):
        shutil.rmtree(it / name) if (it / name).is_dir() else (it / name).unlink()
    assert (it / "samples.shards").is_dir()  # what a crash mid-sampling leaves
    with pytest.raises(StaleArtifactError, match="iter-1/samples.jsonl: temperature was 1.0, now 0.5"):
        stages.run_stages(cfg.replace(temperature=0.5), ["sample"])


def test_an_iteration_that_starts_from_another_methods_model_is_refused(cfg):
    with pytest.raises(StaleArtifactError) as refused:
        stages.run_iteration(cfg.replace(iteration=2, method="sft_gold"))
    assert "iter-1/adapter: method was 'codelutra', now 'sft_gold'" in str(refused.value)
    assert not (Path(cfg.run.store_dir) / "iter-2").exists()


def test_a_store_written_before_records_still_resumes(cfg, capsys):
    root = Path(cfg.run.store_dir)
    for record in root.glob("iter-*/provenance.json"):
        record.unlink()
    assert all(s["skipped"] for s in stages.run_iteration(cfg))  # taken as made with metrics.json's config
    with pytest.raises(StaleArtifactError, match="iter-1/adapter: beta was 0.1, now 0.2"):
        stages.run_iteration(cfg.replace(beta=0.2))
    assert not list(root.glob("iter-*/provenance.json"))  # skipping wrote nothing
    (root / "iter-1" / "metrics.json").unlink()  # an iteration that stopped before its evaluation
    summaries = stages.run_iteration(cfg)
    assert [s.get("skipped", False) for s in summaries] == [True, True, True, True, False]
    assert "iter-1/samples.jsonl has no record of the values that made it" in capsys.readouterr().out


def test_what_shapes_each_stage():
    cfg = load_config("demo")
    assert {"num_samples", "temperature", "method", "seed", "base_model"} <= set(provenance.shaping("sample", cfg))
    assert "sample_batch_size" not in provenance.shaping("sample", cfg)  # batch sizes change no result
    assert "eval_batch_size" not in provenance.shaping("evaluate", cfg) and "workers" not in provenance.shaping(
        "verify", cfg
    )
    assert {"beta", "sft_weight", "learning_rate"} <= set(provenance.shaping("train", cfg))
    assert "beta" not in provenance.shaping("train", cfg.replace(method="sft_gold"))  # SFT has no beta
    assert {"no_correct", "pairs_per_task"} <= set(provenance.shaping("pair", cfg))
    plum = cfg.replace(method="plum")
    assert set(GENERATION_PARAMS) | {"negatives", "test_generator", "trainer"} <= set(provenance.shaping("pair", plum))
    for section in cfg.sections():
        for f in dataclasses.fields(section):
            assert set(f.metadata["shapes"]) <= set(provenance.OUTPUTS), f.name


def test_on_the_hub_a_fresh_machine_refuses_other_values_and_resumes_the_same(tiny_cfg, hub, tmp_path, monkeypatch):
    from hub_server import USER, configure_clients

    cfg = tiny_cfg.replace(train_limit=1, hub_model_repo=f"{USER}/made-adapters", hub_dataset_repo=f"{USER}/made-data")
    stages.run_iteration(cfg)
    data = hub.repo(cfg.run.hub_dataset_repo, "dataset")
    assert "iter-1/provenance.json" in data.commits[data.branches["main"]].files  # pushed with the artifacts

    def fresh_machine(home: str) -> None:
        shutil.rmtree(cfg.run.store_dir)
        configure_clients(monkeypatch, hub.url, tmp_path / home)

    fresh_machine("second")
    commits = len(data.commits)
    with pytest.raises(StaleArtifactError, match="iter-1/adapter: beta was 0.1, now 0.2"):
        stages.run_iteration(cfg.replace(beta=0.2))
    assert len(data.commits) == commits  # nothing pushed
    fresh_machine("third")
    assert all(s["skipped"] for s in stages.run_iteration(cfg))
