"""The Hub as the loop's memory: whole stages on the tiny model against the loopback Hub (tests/hub_server.py).

A "fresh machine" is the same config with the local store folder and the HF caches deleted (the clients then cache
in a new, empty folder): whatever it needs from earlier work must come from the Hub.

1. Iteration 1 on one machine, iteration 2 on a fresh one; the pairs, adapters and cards are read back from the Hub.
2. Sampling crashes after its first shard; a fresh machine pulls that shard and generates only the others.
3. Training crashes after a checkpoint was saved; the rerun resumes from it, locally (``checkpoints/checkpoint-N``)
   and on a fresh machine (``last-checkpoint`` on the Hub branch ``iter-<t>-checkpoints``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hub_server import USER, HubServer, configure_clients

from codelutra_nb import stages
from codelutra_nb.config import LoopConfig, load_config
from codelutra_nb.hub import HubStore
from codelutra_nb.layout import TRAINING_LOG, checkpoint_branch
from codelutra_nb.store import LocalStore, open_store

MODEL_REPO = f"{USER}/resume-adapters"
DATASET_REPO = f"{USER}/resume-data"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _on_hub(cfg: LoopConfig) -> LoopConfig:
    return cfg.replace(hub_model_repo=MODEL_REPO, hub_dataset_repo=DATASET_REPO)


def _fresh_machine(cfg: LoopConfig, hub: HubServer, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Delete the local store folder and the HF caches; the clients cache in ``home`` from now on."""
    shutil.rmtree(cfg.run.store_dir)
    shutil.rmtree(os.environ["HF_HOME"], ignore_errors=True)
    configure_clients(monkeypatch, hub.url, home)


def _hub_files(hub: HubServer, repo_id: str, repo_type: str = "model", branch: str = "main") -> dict[str, bytes]:
    repo = hub.repo(repo_id, repo_type)
    return dict(repo.commits[repo.branches[branch]].files)


def _adapter_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _assert_same_weights(actual: dict, expected: dict, **tolerance) -> None:
    import torch

    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(
            actual[key].float(),
            value.float(),
            **(tolerance or {"rtol": 0, "atol": 0}),
            msg=lambda m, key=key: f"{key}: {m}",
        )


def _loss_steps(log_history: list[dict]) -> list[int]:
    return [h["step"] for h in log_history if "loss" in h]


# -- 1. a fresh machine continues the loop from the Hub ---------------------------------------------------------------


def test_fresh_machine_runs_iteration_two_from_the_hub_alone(
    tiny_cfg: LoopConfig, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import load_dataset, load_from_disk
    from huggingface_hub import DatasetCard, ModelCard
    from peft import PeftModel, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    from codelutra_nb.cards import metrics_table

    cfg = _on_hub(tiny_cfg.replace(train_limit=1))  # 1 question x 2 samples: 2 pairs, one step per iteration
    assert [s["stage"] for s in stages.run_iteration(cfg)] == list(stages.STAGES)
    first = LocalStore(cfg.run.store_dir)
    trained = {1: _adapter_weights(first.path(1, "adapter"))}
    pairs = {1: load_from_disk(str(first.path(1, "preferences"))).to_list()}

    _fresh_machine(cfg, hub, monkeypatch, tmp_path / "hf-home-second-machine")
    assert [s["stage"] for s in stages.run_iteration(cfg.replace(iteration=2))] == [
        s for s in stages.STAGES if s != "baseline"
    ]
    second = LocalStore(cfg.run.store_dir)
    # M(1), which sampled iteration 2 and is its reference, came back from the Hub as trained.
    _assert_same_weights(_adapter_weights(second.path(1, "adapter")), trained[1])
    trained[2] = _adapter_weights(second.path(2, "adapter"))
    pairs[2] = load_from_disk(str(second.path(2, "preferences"))).to_list()
    assert any(not (trained[2][k] == trained[1][k]).all() for k in trained[1])  # iteration 2 did train
    # Nothing of iteration 0 or 1 was redone on the second machine.
    titles = [
        c.title for c in hub.repo(DATASET_REPO, "dataset").history(hub.repo(DATASET_REPO, "dataset").branches["main"])
    ]
    for t, artifact in [(0, "metrics"), *((t, a) for t in (1, 2) for a in ("samples", "verdicts", "preferences"))]:
        assert len([x for x in titles if re.search(rf"(^|; )iter-{t}: [^;]*\b{artifact}\b(?! shard)", x)]) == 1, (
            t,
            artifact,
            titles,
        )
    assert sorted(hub.repo(MODEL_REPO).branches) == ["iter-1", "iter-2", "main"]  # checkpoint branches dropped

    # A third machine reads everything back with the plain clients.
    _fresh_machine(cfg, hub, monkeypatch, tmp_path / "hf-home-reader")
    for t in (1, 2):
        assert load_dataset(DATASET_REPO, f"iter-{t}", split="train").to_list() == pairs[t]
    for revision, t in (("iter-1", 1), ("iter-2", 2), ("main", 2)):
        base = AutoModelForCausalLM.from_pretrained(cfg.model.base_model)
        model = PeftModel.from_pretrained(base, MODEL_REPO, revision=revision)
        _assert_same_weights(get_peft_model_state_dict(model), trained[t])

    history = stages.history(open_store(cfg, check=False))
    assert [m["iteration"] for m in history] == [0, 1, 2] and all(m["eval"]["n"] == 3 for m in history)
    card = ModelCard.load(MODEL_REPO)
    rows = [line for line in card.text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["0", "1", "2"]
    assert metrics_table(history) in card.text
    assert 'revision="iter-2"' in card.text
    data_card = DatasetCard.load(DATASET_REPO, repo_type="dataset")
    configs = {c["config_name"]: c for c in data_card.data.configs}
    assert sorted(configs) == ["iter-1", "iter-2"] and configs["iter-2"].get("default") is True
    assert configs["iter-1"]["data_files"] == [{"split": "train", "path": "iter-1/preferences/*.parquet"}]
    assert hub.unhandled == []


# -- 2. sampling crashes; a fresh machine resumes after the last pushed shard -----------------------------------------


def test_crash_mid_sampling_resumes_on_a_fresh_machine(
    tiny_cfg: LoopConfig, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _on_hub(tiny_cfg.replace(shard_size=1, train_limit=3, hub_shards_per_commit=1))
    real_make_sampler = stages.make_sampler
    seeds: list[int] = []  # one per generate call
    crash_on_call: list[int] = []

    def crashing_sampler(*args, **kwargs):
        sampler = real_make_sampler(*args, **kwargs)
        generate = sampler.generate

        def generate_then_crash(conversations, settings, seed):
            seeds.append(seed)
            if len(seeds) in crash_on_call:
                raise RuntimeError("session died")
            return generate(conversations, settings, seed=seed)

        sampler.generate = generate_then_crash
        return sampler

    monkeypatch.setattr(stages, "make_sampler", crashing_sampler)
    local = cfg.replace(store_dir=str(tmp_path / "uninterrupted"), hub_model_repo=None, hub_dataset_repo=None)
    stages.sample_stage(local, open_store(local))
    expected = LocalStore(local.run.store_dir).fetch(1, "samples").read_text()
    all_seeds = list(seeds)
    assert len(all_seeds) == 3  # one generate call per shard

    seeds.clear()
    crash_on_call.append(2)
    with pytest.raises(RuntimeError, match="session died"):
        stages.sample_stage(cfg, open_store(cfg))
    files = _hub_files(hub, DATASET_REPO, "dataset")
    # the shard, and the record of what is making it (a fresh machine resumes only with the same values)
    assert sorted(p for p in files if p.startswith("iter-1/")) == [
        "iter-1/provenance.json",
        "iter-1/samples.shards/00000.jsonl",
    ]
    shard0 = files["iter-1/samples.shards/00000.jsonl"]

    _fresh_machine(cfg, hub, monkeypatch, tmp_path / "hf-home-fresh")
    seeds.clear()
    crash_on_call.clear()
    store = open_store(cfg)
    assert stages.sample_stage(cfg, store)["samples"] == 3 * 2
    assert seeds == all_seeds[1:]  # shards 1 and 2 generated, shard 0 pulled
    assert store.shard_path(1, "samples", 0).read_bytes() == shard0
    samples = store.fetch(1, "samples").read_text()
    assert samples == expected
    keys = [(r["task_id"], r["sample_index"]) for r in map(json.loads, samples.splitlines())]
    assert len(keys) == len(set(keys)) == 6 and len({task for task, _ in keys}) == 3
    files = _hub_files(hub, DATASET_REPO, "dataset")
    assert files["iter-1/samples.jsonl"].decode() == expected
    assert not any(".shards/" in p for p in files)  # the finished artifact replaced its resume point
    assert hub.unhandled == []


# -- 3. training crashes after a checkpoint; the rerun resumes from it ------------------------------------------------


class SessionDied(RuntimeError):
    pass


@dataclass
class Trained:
    cfg: LoopConfig  # 2 pairs, batch 1: 2 optimizer steps, a checkpoint after each (save_steps = max(1, 2 // 4))
    before_training: Path  # iter-1 with samples, verdicts and preferences, no adapter
    weights: dict
    log: list[dict]


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Iteration 1 up to pairing, kept aside, then trained without interruption (the reference for resumed runs)."""
    root = tmp_path_factory.mktemp("uninterrupted-training")
    cfg = load_config(
        "demo",
        base_model=str(tiny_model_dir),
        store_dir=str(root / "store"),
        num_samples=2,
        max_new_tokens=8,
        eval_max_new_tokens=8,
        train_limit=1,
        eval_limit=3,
        pairs_per_task=2,
        max_length=256,
        sampler="transformers",
        train_batch_size=1,
        workers=1,
    )
    store = LocalStore(cfg.run.store_dir)
    for stage in (stages.sample_stage, stages.verify_stage, stages.pair_stage):
        stage(cfg, store)
    assert json.loads((store.fetch(1, "preferences") / "pairing_stats.json").read_text())["pairs"] == 2
    shutil.copytree(store.iteration_dir(1), root / "before-training")
    _train(cfg, store, seed=cfg.run.seed)
    log = json.loads((store.fetch(1, "adapter") / TRAINING_LOG).read_text())
    assert _loss_steps(log) == [1, 2]
    return Trained(cfg, root / "before-training", _adapter_weights(store.fetch(1, "adapter")), log)


def _train(cfg: LoopConfig, store: LocalStore, *, seed: int) -> dict:
    """`stages.train_stage` with torch's global RNG seeded first.

    `train_adapter` draws the LoRA A matrices from the global RNG in `get_peft_model` before the Trainer seeds it, so
    two fresh trainings in one process start from different adapters unless seeded here (see the report). A resumed
    run is given another seed: what it continues from must come from the checkpoint, not from its own start.
    """
    import torch

    torch.manual_seed(seed)
    return stages.train_stage(cfg, store)


def _crash_after_saving(monkeypatch: pytest.MonkeyPatch, step: int) -> list[int]:
    """Make the trainer `train_adapter` uses record the steps it trains and, at the checkpoint of ``step``, raise
    `SessionDied` once the checkpoint is saved and its Hub push has landed.

    Returns the list the steps trained in this process are appended to.
    """
    from transformers import TrainerCallback

    from codelutra_nb import training
    from codelutra_nb.checkpoint_push import CheckpointPusher

    trained: list[int] = []
    crash = [step]

    class Crash(TrainerCallback):
        def __init__(self, trainer):
            self.trainer = trainer

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                trained.append(state.global_step)

        def on_save(self, args, state, control, **kwargs):
            if state.global_step in crash:
                crash.remove(state.global_step)
                for callback in self.trainer.callback_handler.callbacks:
                    if isinstance(callback, CheckpointPusher):
                        callback.wait()  # a crash after the push, not during it
                raise SessionDied(f"session died after saving step {state.global_step}")

    without_peft_card = training._without_peft_card

    def crashing(trainer_class: type) -> type:
        class CrashingTrainer(without_peft_card(trainer_class)):
            def train(self, *args, **kwargs):
                self.add_callback(Crash(self))  # after train_adapter's callbacks: the checkpoint's push has started
                return super().train(*args, **kwargs)

        return CrashingTrainer

    monkeypatch.setattr(training, "_without_peft_card", crashing)
    return trained


def _assert_resumed_like_uninterrupted(store: LocalStore, reference: Trained) -> None:
    """The log covers the whole epoch once, and losses and final adapter match the uninterrupted run's.

    They match exactly here (same process, one thread, and the checkpoint restores weights, optimizer, scheduler,
    RNG and data position); the tolerance only allows for other kernels.
    """
    import torch

    log = json.loads((store.fetch(1, "adapter") / TRAINING_LOG).read_text())
    assert _loss_steps(log) == [1, 2]  # the whole epoch, no step repeated or lost
    losses = {h["step"]: h["loss"] for h in log if "loss" in h}
    expected = {h["step"]: h["loss"] for h in reference.log if "loss" in h}
    torch.testing.assert_close(losses, expected, rtol=1e-4, atol=1e-6)
    _assert_same_weights(_adapter_weights(store.fetch(1, "adapter")), reference.weights, rtol=1e-4, atol=1e-6)


def test_crash_mid_training_resumes_from_the_local_checkpoint(
    uninterrupted: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = uninterrupted.cfg.replace(store_dir=str(tmp_path / "store"))
    store = LocalStore(cfg.run.store_dir)
    shutil.copytree(uninterrupted.before_training, store.iteration_dir(1))
    trained = _crash_after_saving(monkeypatch, step=1)
    with pytest.raises(SessionDied):
        _train(cfg, store, seed=cfg.run.seed)
    checkpoints = store.iteration_dir(1) / "checkpoints"
    assert trained == [1] and not store.has(1, "adapter")
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-1"]

    trained.clear()
    assert _train(cfg, store, seed=cfg.run.seed + 1)["steps"] == 2
    assert trained == [2]  # resumed after checkpoint-1
    _assert_resumed_like_uninterrupted(store, uninterrupted)


def test_crash_mid_training_resumes_from_the_hub_checkpoint(
    uninterrupted: Trained, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _on_hub(uninterrupted.cfg.replace(store_dir=str(tmp_path / "store")))
    shutil.copytree(uninterrupted.before_training / "preferences", Path(cfg.run.store_dir) / "iter-1" / "preferences")
    store = open_store(cfg)  # its preflight pushes the preferences
    assert isinstance(store, HubStore) and store.has(1, "preferences")
    trained = _crash_after_saving(monkeypatch, step=1)
    with pytest.raises(SessionDied):
        _train(cfg, store, seed=cfg.run.seed)
    assert trained == [1]
    pushed = _hub_files(hub, MODEL_REPO, branch=checkpoint_branch(1))
    assert json.loads(pushed["last-checkpoint/trainer_state.json"])["global_step"] == 1
    assert not store.has(1, "adapter") and "iter-1" not in hub.repo(MODEL_REPO).branches

    _fresh_machine(cfg, hub, monkeypatch, tmp_path / "hf-home-fresh")
    trained.clear()
    store = open_store(cfg)
    assert _train(cfg, store, seed=cfg.run.seed + 1)["steps"] == 2
    pulled = store.iteration_dir(1) / "hub-checkpoint" / "last-checkpoint" / "trainer_state.json"
    assert json.loads(pulled.read_text())["global_step"] == 1
    assert trained == [2]  # resumed at step 1 from the Hub's checkpoint, not from scratch
    _assert_resumed_like_uninterrupted(store, uninterrupted)
    assert "adapter_model.safetensors" in _hub_files(hub, MODEL_REPO, branch="iter-1")
    assert checkpoint_branch(1) not in hub.repo(MODEL_REPO).branches
    assert hub.unhandled == []


def test_checkpoint_of_a_local_base_model_reaches_the_hub(
    uninterrupted: Trained, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _on_hub(uninterrupted.cfg.replace(store_dir=str(tmp_path / "store")))
    shutil.copytree(uninterrupted.before_training / "preferences", Path(cfg.run.store_dir) / "iter-1" / "preferences")
    store = open_store(cfg)
    _crash_after_saving(monkeypatch, step=1)  # PEFT's card names the local base path; the Hub would refuse it
    with pytest.raises(SessionDied):
        _train(cfg, store, seed=cfg.run.seed)
    assert store.pull_trainer_checkpoint(1, tmp_path / "pulled") is not None
