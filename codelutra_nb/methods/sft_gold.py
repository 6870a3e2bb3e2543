"""Ablation: supervised fine-tuning on the gold solutions only (the paper's fine-tuned baseline; no sampling)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import LoopConfig
from ..kinds import Task, get_kind
from ..pairing import COMPLETION_COLUMNS, completion_row, rows_dataset
from ..prompts import messages_for
from .base import Method, Rows
from .trainers import SFT, Trainer


@dataclass(frozen=True)
class SftGold(Method):
    """Supervised fine-tuning on the gold solution of every training question (nothing is sampled)."""

    name = "sft_gold"
    needs_gold = True
    uses_samples = False

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
        return SFT()
