"""Ablation: supervised fine-tuning on the model's own correct samples (no failures).

A question with no correct sample gets its gold solution instead when ``no_correct: gold``, the same switch as
CodeLutra's, so that with equal settings this ablation differs from CodeLutra only in the failures it leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import LoopConfig
from ..kinds import Task, get_kind
from ..pairing import COMPLETION_COLUMNS, by_task, completion_row, rows_dataset, split_answers
from ..prompts import messages_for
from .base import Method, Rows
from .codelutra import no_correct_param
from .trainers import SFT, Trainer


@dataclass(frozen=True)
class SftSelf(Method):
    """Supervised fine-tuning on the model's own correct samples (no failures); the gold solution where none is
    correct and no_correct is gold, as CodeLutra."""

    name = "sft_self"
    no_correct: Literal["skip", "gold"] = no_correct_param()

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        rows: list[dict] = []
        stats = {"tasks": 0, "tasks_with_correct": 0, "gold_tasks": 0, "degenerate": 0}
        for task_id, records in by_task(verdicts).items():
            task = tasks[task_id]
            correct, _, degenerate = split_answers(task, records, ("correct",))
            answers = [c.answer for c in correct]
            if not answers and self.no_correct == "gold" and task.reference:
                answers = [get_kind(task.kind).format_answer(task.reference)]
                stats["gold_tasks"] += 1
            stats["tasks"] += 1
            stats["degenerate"] += degenerate
            stats["tasks_with_correct"] += bool(correct)
            prompt = messages_for(task, cfg.tasks)
            rows += [completion_row(prompt, answer, task_id, cfg.run.iteration) for answer in answers]
        stats["rows"] = len(rows)
        return Rows(rows_dataset(rows, COMPLETION_COLUMNS), stats)

    def make_trainer(self) -> Trainer:
        return SFT()

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no correct sample to learn from (method sft_self). Set no_correct: gold (the "
            "gold solution where no sample is correct), sample more (num_samples, temperature), or use sft_gold or "
            "codelutra."
        )
