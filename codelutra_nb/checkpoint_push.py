"""Training checkpoints pushed to the Hub as they are saved, so a fresh machine can resume training.

`CheckpointPusher` replaces the Trainer's own ``push_to_hub`` / ``hub_strategy="checkpoint"``, whose background
pushes fail silently and take two commits per save: each checkpoint goes to ``last-checkpoint/`` of one branch in one
commit, and a failed push is reported and retried with the newest checkpoint before training goes on.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import CommitInfo, HfApi
from transformers import TrainerCallback

from .hub_errors import server_message, status_of
from .layout import LAST_CHECKPOINT
from .progress import say

if TYPE_CHECKING:
    from transformers import TrainerControl, TrainerState, TrainingArguments


class CheckpointPusher(TrainerCallback):
    """Push each saved checkpoint to ``last-checkpoint/`` of ``branch`` in the model repo ``repo_id``.

    A save's push runs in the background (one commit, files of an older checkpoint deleted) while training goes on.
    The next save first waits for it, at the end of its step (before the Trainer writes the new checkpoint and
    rotates out older ones, so no folder is deleted while it is uploaded). If it failed, the failure is said
    (`progress.say`, with ``describe(err)``) and the new checkpoint is pushed at once, blocking, so its outcome is
    known before training goes on; if that retry fails too, the next save retries again. Training never stops because
    of a push. At the end of training the last push is waited for, and retried once if it failed.

    Each push is a commit on top of the branch's head as this pusher last saw it (``parent``): when another writer
    committed to the branch (another session training the same iteration), the Hub answers 412, which is said and
    ends the pushes from here (training goes on, and its checkpoints stay local). ``stage(folder, out)`` writes into
    an empty folder what is pushed of a checkpoint (by default, its files as they are).

    Attributes:
        pushed_steps: Steps whose checkpoint landed, in order.
        failures: The lines said about failed pushes.
    """

    def __init__(
        self,
        api: HfApi,
        repo_id: str,
        branch: str,
        *,
        describe: Callable[[BaseException], str] = server_message,
        stage: Callable[[Path, Path], None] | None = None,
        parent: str | None = None,
    ):
        self.api, self.repo_id, self.branch, self.describe = api, repo_id, branch, describe
        self.stage = stage or (lambda folder, out: shutil.copytree(folder, out, dirs_exist_ok=True))
        self.parent = parent
        self.conflict = False
        self._staged: list[Path] = []
        self._where = f"{repo_id}@{branch}"
        self.pushed_steps: list[int] = []
        self.failures: list[str] = []
        self._in_flight: tuple[int, Future[CommitInfo]] | None = None
        self._failed_step: int | None = None  # the newest checkpoint's push failed: the Hub is behind

    def wait(self) -> None:
        """Block until the push in flight, if any, has landed or failed (and said so)."""
        if self._in_flight is None:
            return
        step, future = self._in_flight
        self._in_flight = None
        try:
            self._landed(future.result())
        except Exception as err:  # any failure of a push is reported; none stops training
            if not self._conflicted(err):
                self._failed_step = step
                self._fail(f"Pushing checkpoint-{step} to {self._where} failed: {self._text(err)}. Retrying.")
        else:
            self.pushed_steps.append(step)
        finally:
            self._unstage()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if control.should_save:
            self.wait()

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if control.should_save:
            self.wait()

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if not state.is_world_process_zero:
            return
        self.wait()
        if self.conflict:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self._failed_step is None:
            self._in_flight = (state.global_step, self._upload(folder, state.global_step, background=True))
        else:
            self._push_now(folder, state.global_step, then="the next save tries again")

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if not state.is_world_process_zero:
            return
        self.wait()
        if self._failed_step is not None and not self.conflict:
            folder = Path(args.output_dir) / f"checkpoint-{self._failed_step}"
            self._push_now(folder, self._failed_step, then="training has ended, so no later save retries it")

    def _push_now(self, folder: Path, step: int, *, then: str) -> None:
        """Push ``folder`` and wait; say how it went."""
        try:
            self._landed(self._upload(folder, step, background=False))
        except Exception as err:  # as in `wait`
            if self._conflicted(err):
                return
            self._failed_step = step
            held = f"checkpoint-{self.pushed_steps[-1]}" if self.pushed_steps else "none"
            self._fail(
                f"Retrying: pushing checkpoint-{step} to {self._where} failed too: {self._text(err)}. The Hub has "
                f"no up-to-date resume point for now (it holds {held}); the local checkpoints are in {folder.parent}; "
                f"{then}."
            )
            return
        finally:
            self._unstage()  # nothing else is in flight: `wait` came first
        self._failed_step = None
        self.pushed_steps.append(step)
        say(f"Retry done: checkpoint-{step} is the Hub's resume point on {self._where}.")

    def _upload(self, folder: Path, step: int, *, background: bool) -> CommitInfo | Future[CommitInfo]:
        staged = Path(tempfile.mkdtemp(prefix="codelutra-checkpoint-"))
        self._staged.append(staged)
        self.stage(folder, staged / "checkpoint")
        return self.api.upload_folder(
            repo_id=self.repo_id,
            folder_path=staged / "checkpoint",
            path_in_repo=LAST_CHECKPOINT,
            revision=self.branch,
            delete_patterns="*",  # no file of an older checkpoint stays
            commit_message=f"Training checkpoint, step {step}",
            parent_commit=self.parent,
            run_as_future=background,
        )

    def _landed(self, info: CommitInfo) -> None:
        self.parent = info.oid

    def _conflicted(self, err: BaseException) -> bool:
        """Whether ``err`` is the Hub's 412 (another writer moved the branch); if so, say so and push no more."""
        if 412 not in (status_of(err), status_of(err.__cause__)):
            return False
        self.conflict = True
        self._fail(
            f"Another writer committed to {self._where} (the Hub answered 412 to checkpoint pushes from here): "
            "another session may be training the same iteration. Checkpoints are no longer pushed from here; "
            f"training goes on with its local checkpoints. {self._text(err)}"
        )
        return True

    def _unstage(self) -> None:
        for folder in self._staged:
            shutil.rmtree(folder, ignore_errors=True)
        self._staged.clear()

    def _text(self, err: BaseException) -> str:
        return self.describe(err).rstrip(". ")

    def _fail(self, line: str) -> None:
        self.failures.append(line)
        say(line)
