"""Ablation: supervised fine-tuning on the gold solutions only (the paper's fine-tuned baseline; no sampling).

Iteration t trains one epoch on the gold of its own slice of the training questions (``train_per_iteration``), each
gold once, whatever ``epochs`` says: as CodeLutra's iteration t learns once from fresh samples of its slice, this
ablation learns once from its gold. An iteration after the first whose slice is the whole training set would only
repeat the same gold as another epoch, so it is refused (`SftGold.check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import LoopConfig
from ..errors import ConfigError
from ..kinds import Task, get_kind, load_tasks
from ..pairing import COMPLETION_COLUMNS, completion_row, rows_dataset
from ..prompts import messages_for
from .base import Method, Rows
from .trainers import SFT, Trainer


@dataclass(frozen=True)
class SftGold(Method):
    """Supervised fine-tuning on the gold solution of each question of the iteration's slice, one epoch (nothing is
    sampled)."""

    name = "sft_gold"
    needs_gold = True
    uses_samples = False

    def check(self, cfg: LoopConfig, tasks: Sequence[Task]) -> None:
        super().check(cfg, tasks)
        t, size = cfg.run.iteration, cfg.tasks.train_per_iteration
        if t > 1 and (size is None or size >= len(load_tasks(cfg.tasks, "train"))):
            raise ConfigError(
                f"method 'sft_gold' at iteration {t} would train on the same gold as iteration {t - 1} again (every "
                f"iteration's slice is the whole training set: train_per_iteration is {size}), i.e. one more epoch, "
                "not one more iteration. Set train_per_iteration below the number of training questions so each "
                "iteration has its own slice, or compare with sft_gold's iteration 1."
            )

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        t = cfg.run.iteration
        rows = [
            completion_row(
                messages_for(task, cfg.tasks), get_kind(task.kind).format_answer(task.reference), task.task_id, t
            )
            for task in tasks.values()
        ]
        return Rows(rows_dataset(rows, COMPLETION_COLUMNS), {"tasks": len(tasks), "rows": len(rows)})

    def make_trainer(self) -> Trainer:
        return SFT(one_epoch=True)
