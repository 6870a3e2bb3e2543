"""Ablation: supervised fine-tuning on the model's own correct samples only (no failures, no gold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from datasets import Dataset

from ..config import LoopConfig
from ..kinds import Task
from ..pairing import by_task, split_answers
from .base import Method, Rows
from .sft_gold import completion_rows
from .trainers import SFT, Trainer


class SftSelf(Method):
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
            rows += completion_rows(tasks[task_id], [c.answer for c in correct], cfg)
        stats["rows"] = len(rows)
        return Rows(Dataset.from_list(rows) if rows else Dataset.from_dict({"prompt": [], "completion": []}), stats)

    def trainer(self, cfg: LoopConfig) -> Trainer:
        return SFT()

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no correct sample to learn from (method sft_self). Sample more "
            "(num_samples, temperature), or use sft_gold or codelutra, which also learn without one."
        )
