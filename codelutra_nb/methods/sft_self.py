"""Ablation: supervised fine-tuning on the model's own correct samples only (no failures, no gold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import LoopConfig
from ..kinds import Task
from ..pairing import COMPLETION_COLUMNS, by_task, completion_row, rows_dataset, split_answers
from ..prompts import messages_for
from .base import Method, Rows
from .trainers import SFT, Trainer


@dataclass(frozen=True)
class SftSelf(Method):
    """Supervised fine-tuning on the model's own correct samples (no failures, no gold)."""

    name = "sft_self"

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        rows: list[dict] = []
        stats = {"tasks": 0, "tasks_with_correct": 0, "degenerate": 0}
        for task_id, records in by_task(verdicts).items():
            correct, _, degenerate = split_answers(tasks[task_id], records, ("correct",))
            stats["tasks"] += 1
            stats["degenerate"] += degenerate
            stats["tasks_with_correct"] += bool(correct)
            prompt = messages_for(tasks[task_id], cfg.tasks)
            rows += [completion_row(prompt, c.answer, task_id, cfg.run.iteration) for c in correct]
        stats["rows"] = len(rows)
        return Rows(rows_dataset(rows, COMPLETION_COLUMNS), stats)

    def make_trainer(self) -> Trainer:
        return SFT()

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no correct sample to learn from (method sft_self). Sample more "
            "(num_samples, temperature), or use sft_gold or codelutra, which also learn without one."
        )
