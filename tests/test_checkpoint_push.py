"""`CheckpointPusher` against the loopback Hub (tests/hub_server.py): a few LoRA steps on `micro_llama`, a save
every two steps, each checkpoint pushed to ``last-checkpoint/`` of the checkpoint branch; failed pushes are said and
retried with the newest checkpoint before training goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hub_server import USER, HubServer
from micro_model import micro_llama
from transformers import TrainerCallback

from codelutra_nb.checkpoint_push import CheckpointPusher
from codelutra_nb.hub import HubStore
from codelutra_nb.layout import checkpoint_branch

MODEL_REPO = f"{USER}/checkpoint-push"
BRANCH = checkpoint_branch(1)
COMMIT_PATH = r"^/api/models/[^/]+/[^/]+/commit/"
QUOTA = "Private repository storage limit reached"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class HubWatch(TrainerCallback):
    """Records, as each step begins, the global step of the checkpoint on the Hub (None: none)."""

    def __init__(self, hub: HubServer):
        self.hub = hub
        self.on_hub: dict[int, int | None] = {}

    def on_step_begin(self, args, state, control, **kwargs):
        self.on_hub[state.global_step] = _hub_step(self.hub)


def _branch_files(hub: HubServer) -> dict[str, bytes]:
    repo = hub.repo(MODEL_REPO)
    return dict(repo.commits[repo.branches[BRANCH]].files)


def _hub_step(hub: HubServer) -> int | None:
    state = _branch_files(hub).get("last-checkpoint/trainer_state.json")
    return json.loads(state)["global_step"] if state is not None else None


def _checkpoint_commits(hub: HubServer) -> list[str]:
    repo = hub.repo(MODEL_REPO)
    return [c.title for c in reversed(repo.history(repo.branches[BRANCH])) if c.title.startswith("Training checkpoint")]


def _pusher(tmp_path: Path, *, stale: bool = False) -> CheckpointPusher:
    """The store's pusher for iteration 1 (the store's preflight creates the repo, the pusher's branch is made); with
    ``stale``, the branch holds a file of an older run's checkpoint first."""
    store = HubStore(tmp_path / "store", model_repo=MODEL_REPO, dataset_repo=None)
    store.preflight()
    if stale:
        store.trainer_callbacks(1)  # makes the branch
        store.api.upload_file(
            path_or_fileobj=b"from an older run",
            path_in_repo="last-checkpoint/stale.bin",
            repo_id=MODEL_REPO,
            revision=BRANCH,
        )
        store.refresh()
    (pusher,) = store.trainer_callbacks(1)
    assert isinstance(pusher, CheckpointPusher)
    return pusher


def _train(output_dir: Path, *callbacks: TrainerCallback):
    """6 LoRA steps on `micro_llama`, a checkpoint every 2 steps (only the newest kept locally); the Trainer class
    `train_adapter` uses (checkpoints without PEFT's model card, whose metadata the Hub would refuse)."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments

    from codelutra_nb.training import _without_peft_card

    ids = [[(7 * i + j) % 64 for j in range(8)] for i in range(8)]
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=6,
        save_strategy="steps",
        save_steps=2,
        save_total_limit=1,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    model = get_peft_model(micro_llama(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    trainer = _without_peft_card(Trainer)(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"input_ids": ids, "labels": ids}),
        callbacks=list(callbacks),
    )
    trainer.train()
    return trainer


def test_each_save_is_one_commit_of_last_checkpoint(hub: HubServer, tmp_path: Path) -> None:
    pusher = _pusher(tmp_path, stale=True)
    trainer = _train(tmp_path / "checkpoints", pusher)

    assert trainer.state.global_step == 6
    assert pusher.pushed_steps == [2, 4, 6] and pusher.failures == []
    assert _checkpoint_commits(hub) == [f"Training checkpoint, step {s}" for s in (2, 4, 6)]
    local = tmp_path / "checkpoints" / "checkpoint-6"
    # training_args.bin (pickled arguments, full of this machine's paths; not read to resume) stays local
    expected = {
        f"last-checkpoint/{p.name}": p.read_bytes()
        for p in local.iterdir()
        if p.is_file() and p.name != "training_args.bin"
    }
    assert (local / "training_args.bin").exists()
    files = _branch_files(hub)
    assert {p: files[p] for p in files if p != ".gitattributes"} == expected  # stale.bin gone, nothing at the root

    pulled = HubStore(tmp_path / "fresh", model_repo=MODEL_REPO, dataset_repo=None).pull_trainer_checkpoint(
        1, tmp_path / "pulled"
    )
    assert pulled is not None
    assert json.loads((pulled / "trainer_state.json").read_text())["global_step"] == 6
    assert {f"last-checkpoint/{p.name}": p.read_bytes() for p in pulled.iterdir() if p.is_file()} == expected
    assert hub.unhandled == []


def test_a_failed_push_is_said_and_retried_with_the_newest_checkpoint(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pusher, watch = _pusher(tmp_path), HubWatch(hub)
    hub.fail("POST", COMMIT_PATH, 400, QUOTA)  # checkpoint-2's push
    trainer = _train(tmp_path / "checkpoints", pusher, watch)

    assert trainer.state.global_step == 6  # training went on
    (failure,) = pusher.failures
    assert "checkpoint-2" in failure and f"{MODEL_REPO}@{BRANCH}" in failure and QUOTA in failure
    assert failure in capsys.readouterr().out
    assert pusher.pushed_steps == [4, 6]
    assert watch.on_hub[4] == 4  # the retry pushed checkpoint-4 and waited for it before step 5
    assert _checkpoint_commits(hub) == ["Training checkpoint, step 4", "Training checkpoint, step 6"]
    assert _hub_step(hub) == 6
    assert hub.unhandled == []


def test_a_failed_retry_leaves_training_running_and_a_later_save_catches_up(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pusher, watch = _pusher(tmp_path), HubWatch(hub)
    hub.fail("POST", COMMIT_PATH, 400, QUOTA, times=2)  # checkpoint-2's push and checkpoint-4's retry
    trainer = _train(tmp_path / "checkpoints", pusher, watch)

    assert trainer.state.global_step == 6
    first, retry = pusher.failures
    assert "checkpoint-2" in first and QUOTA in first
    assert "checkpoint-4" in retry and QUOTA in retry and "no up-to-date resume point" in retry
    assert str(tmp_path / "checkpoints") in retry and "the next save tries again" in retry
    out = capsys.readouterr().out
    assert first in out and retry in out
    assert watch.on_hub[4] is None  # nothing on the Hub while steps 5 and 6 trained
    assert pusher.pushed_steps == [6]  # checkpoint-6, pushed at once, restored the resume point
    assert "checkpoint-6 is the Hub's resume point" in out
    assert _checkpoint_commits(hub) == ["Training checkpoint, step 6"]
    assert _hub_step(hub) == 6
    assert hub.unhandled == []


def test_another_writer_on_the_checkpoint_branch_stops_the_pushes(hub: HubServer, tmp_path: Path) -> None:
    """A commit of someone else to the branch after this pusher last saw it is a 412: said, and no more pushes from
    here (the other writer's work is not overwritten); training itself goes on."""
    pusher = _pusher(tmp_path)
    pusher.api.upload_file(
        path_or_fileobj=b"another session's checkpoint",
        path_in_repo="last-checkpoint/other.bin",
        repo_id=MODEL_REPO,
        revision=BRANCH,
    )
    trainer = _train(tmp_path / "checkpoints", pusher)

    assert trainer.state.global_step == 6
    assert pusher.conflict and pusher.pushed_steps == []
    assert len(pusher.failures) == 1 and "412" in pusher.failures[0] and "Another writer" in pusher.failures[0]
    assert _checkpoint_commits(hub) == []
    assert _branch_files(hub)["last-checkpoint/other.bin"] == b"another session's checkpoint"
