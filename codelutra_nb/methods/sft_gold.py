"""Ablation: supervised fine-tuning on the gold solutions only (the paper's fine-tuned baseline; no sampling)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from datasets import Dataset

from ..config import LoopConfig
from ..kinds import Task, get_kind
from ..prompts import build_messages
from .base import Method, Rows
from .trainers import SFT, Trainer


def completion_rows(task: Task, answers: Sequence[str], cfg: LoopConfig, **meta) -> list[dict]:
    """One TRL prompt / completion row per answer (conversational), with the task id and iteration."""
    prompt = build_messages(task, cfg.tasks.prompt_template, cfg.tasks.system_prompt)
    return [
        {
            "prompt": prompt,
            "completion": [{"role": "assistant", "content": answer}],
            "task_id": task.task_id,
            "iteration": cfg.run.iteration,
            **meta,
        }
        for answer in answers
    ]


class SftGold(Method):
    name = "sft_gold"
    needs_gold = True
    uses_samples = False

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        rows = [
            row
            for task in tasks.values()
            for row in completion_rows(task, [get_kind(task.kind).format_answer(task.reference)], cfg)
        ]
        return Rows(Dataset.from_list(rows), {"tasks": len(tasks), "rows": len(rows)})

    def trainer(self, cfg: LoopConfig) -> Trainer:
        return SFT()
