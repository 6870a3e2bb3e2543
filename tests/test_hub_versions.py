"""The Hub store never loses or overwrites work (loopback Hub, real clients): it pushes by versions, detects other
writers, stores an empty iteration, ends non-zero on a rate limit it cannot wait out, pushes nothing machine-local,
and resumes only what the run would make again."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from hub_server import USER, HubServer

from codelutra_nb import stages
from codelutra_nb.best import update_best
from codelutra_nb.cli import main
from codelutra_nb.config import LoopConfig
from codelutra_nb.errors import StoreError
from codelutra_nb.hub import HubStore
from codelutra_nb.hub_versions import VersionConflict
from codelutra_nb.pairing import load_rows, rows_dataset
from codelutra_nb.store import LocalStore

MODEL_REPO = f"{USER}/versions-adapters"
DATASET_REPO = f"{USER}/versions-data"


def _store(root: Path, **kwargs) -> HubStore:
    return HubStore(root, **({"model_repo": MODEL_REPO, "dataset_repo": DATASET_REPO} | kwargs))


def _metrics(t: int, accuracy: float) -> dict:
    return {"iteration": t, "eval": {"accuracy": accuracy, "executable_rate": 0.9, "n": 20}}


def _write_adapter(store: LocalStore, t: int, value: float) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    with store.writing(t, "adapter") as path:
        path.mkdir()
        (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
        save_file({"lora_A": np.full((4, 4), value, dtype=np.float32)}, str(path / "adapter_model.safetensors"))


def _evaluate(store: LocalStore, t: int, accuracy: float) -> None:
    """What the evaluate stage writes: the metrics, then the best pointer over the history."""
    store.write_json(t, "metrics", _metrics(t, accuracy))
    update_best(store, stages.history(store))


def _on_hub(hub: HubServer, path: str, branch: str = "main", repo_type: str = "dataset") -> bytes | None:
    repo = hub.repo(DATASET_REPO if repo_type == "dataset" else MODEL_REPO, repo_type)
    return repo.commits[repo.branches[branch]].files.get(path)


def _accuracy(data: bytes | str | None) -> float:
    assert data is not None
    return json.loads(data)["eval"]["accuracy"]


def _two_machines(tmp_path: Path) -> tuple[HubStore, HubStore]:
    """Machine A pushes iteration 1 (0.40); machine B re-evaluates it (0.45) and trains iteration 2 (0.60)."""
    a = _store(tmp_path / "a")
    a.preflight()
    _write_adapter(a, 1, 0.1)
    _evaluate(a, 1, 0.40)
    b = _store(tmp_path / "b")
    b.preflight()
    b.fetch(1, "adapter")
    b.fetch(1, "metrics")
    _write_adapter(b, 1, 0.15)  # retrained with force
    _evaluate(b, 1, 0.45)
    _write_adapter(b, 2, 0.2)
    _evaluate(b, 2, 0.60)
    return a, b


def test_an_older_folder_pulls_newer_hub_work_instead_of_overwriting_it(hub: HubServer, tmp_path: Path) -> None:
    a, _ = _two_machines(tmp_path)
    model = hub.repo(MODEL_REPO)
    assert model.branches["best"] == model.branches["iter-2"]

    a.preflight()  # A's next run: before, this pushed 0.40 back and deleted branch best

    assert _accuracy(_on_hub(hub, "iter-1/metrics.json")) == 0.45
    assert model.branches["best"] == model.branches["iter-2"]
    assert _accuracy(a.path(1, "metrics").read_text()) == 0.45  # pulled: A's M(1) numbers are B's
    assert a.read_best()["iteration"] == 2  # from the merged history, not A's own best.json
    from safetensors.numpy import load_file

    pulled = load_file(str(a.fetch(1, "adapter") / "adapter_model.safetensors"))["lora_A"]
    assert float(pulled[0, 0]) == pytest.approx(0.15)  # A trains iteration 2 from B's M(1), not its own older one


def test_a_file_changed_on_both_sides_stops_naming_it(hub: HubServer, tmp_path: Path) -> None:
    a, _ = _two_machines(tmp_path)
    a.path(1, "metrics").write_text(json.dumps(_metrics(1, 0.41)))  # A changes its copy too (a push that failed)

    with pytest.raises(VersionConflict) as conflict:
        a.preflight()

    text = str(conflict.value)
    assert "iter-1/metrics.json" in text and "here sha256" in text and "on the Hub blob" in text
    assert _accuracy(_on_hub(hub, "iter-1/metrics.json")) == 0.45  # nothing of A's went up
    assert _accuracy(a.path(1, "metrics").read_text()) == 0.41  # nor was A's copy replaced


def test_a_commit_behind_another_writers_is_looked_at_again(hub: HubServer, tmp_path: Path) -> None:
    a, b = _store(tmp_path / "a", model_repo=None), _store(tmp_path / "b", model_repo=None)
    a.preflight()
    b.preflight()
    assert not b.has(2, "samples")  # B's stage looks at the store (listing it) before A's commit
    a.write_json(1, "samples", {"from": "a"})

    b.write_json(2, "samples", {"from": "b"})  # B's listing is older than A's commit: 412, listed again, pushed

    assert any(r.startswith(f"412 POST /api/datasets/{DATASET_REPO}/commit/main") for r in hub.refused)
    assert json.loads(_on_hub(hub, "iter-1/samples.jsonl")) == {"from": "a"}
    assert json.loads(_on_hub(hub, "iter-2/samples.jsonl")) == {"from": "b"}


def test_two_stores_writing_one_iteration_never_mix_it(hub: HubServer, tmp_path: Path) -> None:
    a, b = _store(tmp_path / "a", model_repo=None), _store(tmp_path / "b", model_repo=None)
    a.preflight()
    b.preflight()
    for store, name in ((a, "a"), (b, "b")):
        for index in range(2):
            with store.writing_shard(1, "samples", index) as path:
                path.write_text(json.dumps({"from": name, "shard": index}) + "\n")
    assert not b.has(1, "samples")  # B's stage looked at the store before A's push
    a.sync()

    with pytest.raises(VersionConflict) as conflict:  # B's push: 412, then the Hub holds A's shards: both changed
        b.sync()

    assert "iter-1/samples.shards/00000.jsonl" in str(conflict.value)
    assert any(r.startswith("412 POST") for r in hub.refused)
    for index in range(2):
        assert json.loads(_on_hub(hub, f"iter-1/samples.shards/{index:05d}.jsonl"))["from"] == "a"


def test_an_iteration_with_no_rows_is_stored_and_says_the_methods_message(
    hub: HubServer, tiny_cfg: LoopConfig, tmp_path: Path
) -> None:
    cfg = tiny_cfg.replace(hub_model_repo=MODEL_REPO, hub_dataset_repo=DATASET_REPO)
    store = _store(Path(cfg.run.store_dir))
    store.preflight()
    with store.writing(1, "preferences") as path:  # what the pair stage writes when the method finds no rows
        rows_dataset([], ["prompt", "chosen", "rejected"]).save_to_disk(str(path))
        (path / "pairing_stats.json").write_text(json.dumps({"pairs": 0}))

    with pytest.raises(Exception) as stopped:
        stages.train_stage(cfg, store)
    assert str(stopped.value) == cfg.method.empty_message(1)

    store.preflight()  # before, every preflight failed on the empty folder's parquet export
    assert _on_hub(hub, "iter-1/preferences/save_to_disk/state.json") is not None
    fresh = _store(tmp_path / "fresh")
    assert len(load_rows(fresh.fetch(1, "preferences"))) == 0


def test_a_rate_limit_at_the_end_fails_the_run_and_push_sends_it_later(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    store = _store(tmp_path / "s", model_repo=None)
    store.preflight()
    store.write_json(1, "samples", {"n": 1})
    store.write_json(1, "timings", {"sample": 1.0})  # waits for the next commit
    hub.limit_commits(1)  # the Hub refuses commits for the rest of the hour

    with pytest.raises(StoreError) as failed:
        store.flush(wait_minutes=0)

    text = str(failed.value)
    assert "Iteration 1's timings: only in" in text and "not on the Hub" in text
    assert f"python -m codelutra_nb push --store {store.root.absolute()}" in text
    assert _on_hub(hub, "iter-1/timings.json") is None

    hub.limit_commits(None)
    assert main(["push", "--store", str(store.root)]) == 0
    assert json.loads(_on_hub(hub, "iter-1/timings.json")) == {"sample": 1.0}
    assert "pushed: iteration 1's timings" in capsys.readouterr().err


def test_a_short_rate_limit_at_the_end_is_waited_out(hub: HubServer, tmp_path: Path) -> None:
    store = _store(tmp_path / "s", model_repo=None)
    store.preflight()
    store.write_json(1, "timings", {"sample": 1.0})
    hub.fail("POST", rf"/api/datasets/{DATASET_REPO}/commit/main", 429, "Slow down", headers={"Retry-After": "2"})

    assert store.flush(wait_minutes=1) == [(1, "timings")]
    assert json.loads(_on_hub(hub, "iter-1/timings.json")) == {"sample": 1.0}


def test_iteration_two_refuses_to_start_over_an_unevaluated_m1(tiny_cfg: LoopConfig) -> None:
    store = LocalStore(tiny_cfg.run.store_dir)
    _write_adapter(store, 1, 0.1)  # iteration 1 stopped after training
    cfg = tiny_cfg.replace(iteration=2)

    with pytest.raises(StoreError, match=r"M\(1\) was trained but never evaluated.*-p iteration 1"):
        stages.check_stages(cfg, store, stages.iteration_stages(cfg, store))

    store.write_json(1, "metrics", _metrics(1, 0.5))
    stages.check_stages(cfg, store, stages.iteration_stages(cfg, store))


def test_a_checkpoint_made_from_other_preferences_is_not_resumed(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    made_from = {"params": {"beta": 0.1}, "inputs": {"iter-1/preferences": "aaaa"}}
    store = _store(tmp_path / "s", dataset_repo=None)
    store.preflight()
    folder = tmp_path / "checkpoints" / "checkpoint-2"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    (pusher,) = store.trainer_callbacks(1, made_from)
    args = types.SimpleNamespace(output_dir=str(folder.parent))
    state = types.SimpleNamespace(global_step=2, is_world_process_zero=True)
    pusher.on_save(args, state, None)
    pusher.on_train_end(args, state, None)
    assert pusher.pushed_steps == [2]

    other = {"params": {"beta": 0.1}, "inputs": {"iter-1/preferences": "bbbb"}}
    assert store.pull_trainer_checkpoint(1, tmp_path / "pulled", other) is None
    assert "made from another iter-1/preferences" in capsys.readouterr().out
    resumed = store.pull_trainer_checkpoint(1, tmp_path / "pulled", made_from)
    assert resumed is not None and json.loads((resumed / "trainer_state.json").read_text())["global_step"] == 2


def test_no_pushed_file_names_this_machines_folders(
    hub: HubServer, tiny_cfg: LoopConfig, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A whole iteration through the stage notebooks (the chain iterate.ipynb runs), then every file of every commit
    of both repos, checkpoint branches included."""
    from codelutra_nb.chain import run_notebooks

    cfg = tiny_cfg.replace(hub_model_repo=MODEL_REPO, hub_dataset_repo=DATASET_REPO, train_limit=1)
    run_notebooks(cfg)

    local = [str(tmp_path_factory.getbasetemp()), str(Path.home()), str(Path(__file__).resolve().parent.parent)]
    found = []
    for repo_id, repo_type in ((MODEL_REPO, "model"), (DATASET_REPO, "dataset")):
        for commit in hub.repo(repo_id, repo_type).commits.values():
            for path, data in commit.files.items():
                found += [f"{repo_id}:{path} names {folder}" for folder in local if folder.encode() in data]
    assert found == []
    config = json.loads(_on_hub(hub, "iter-1/metrics.json"))["config"]
    assert config["store_dir"] == "<store_dir>" and config["base_model"] == "<local>"
    notebook = json.loads(_on_hub(hub, "iter-1/notebooks/04_train.ipynb"))
    assert notebook["metadata"]["papermill"]["input_path"] == "<codelutra_nb>/notebooks/04_train.ipynb"
