"""CodeLutra's pairing rule, from verified samples to a preference dataset.

Per question, K pairs: a chosen answer drawn from the correct samples and a
rejected one from the failed samples, with replacement when a side has fewer
than K distinct answers. Degenerate outputs (a long stretch repeated over and
over) are dropped first. A question with no correct sample is skipped or gets
its gold solution as the chosen answer (``no_correct``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from datasets import Dataset

from .kinds import Task, get_kind
from .prompts import build_messages

_REPEAT = re.compile(r"(.{8,}?)\1{3,}", re.DOTALL)


def is_degenerate(text: str) -> bool:
    """True when some stretch of 8+ characters repeats 4+ times in a row (looping output)."""
    return _REPEAT.search(text) is not None


@dataclass(frozen=True)
class Candidate:
    """A verified sample: its answer text as trained, and its category."""

    answer: str
    category: str
    source: str = "sample"


def pair_task(
    correct: Sequence[Candidate], failed: Sequence[Candidate], k: int, rng: random.Random
) -> list[tuple[Candidate, Candidate]]:
    """K (chosen, rejected) pairs; each side drawn without replacement when it has K or more, else with."""
    if not correct or not failed:
        return []

    def draw(pool: Sequence[Candidate]) -> list[Candidate]:
        return rng.sample(list(pool), k) if len(pool) >= k else rng.choices(list(pool), k=k)

    return list(zip(draw(correct), draw(failed)))


def build_preferences(
    tasks: Mapping[str, Task],
    samples: Sequence[dict],
    *,
    k: int,
    no_correct: str,
    iteration: int,
    seed: int,
    template: str | None = None,
    system_prompt: str | None = None,
) -> tuple[Dataset, dict]:
    """The preference dataset (TRL conversational prompt/chosen/rejected + metadata) and pairing statistics.

    Args:
        samples: Records with ``task_id``, ``completion``, ``category`` (verified samples).
        k: Pairs per question.
        no_correct: ``"skip"`` or ``"gold"`` for questions without a correct sample.
    """
    by_task: dict[str, list[dict]] = {}
    for record in samples:
        by_task.setdefault(str(record["task_id"]), []).append(record)
    rng = random.Random(seed)
    rows: list[dict] = []
    stats = {
        "tasks": len(by_task),
        "paired_tasks": 0,
        "gold_chosen_tasks": 0,
        "degenerate": 0,
        "skipped_no_correct": 0,
        "skipped_no_failed": 0,
    }
    for task_id in sorted(by_task, key=_natural_key):
        task = tasks[task_id]
        kind = get_kind(task.kind)
        correct: dict[str, Candidate] = {}
        failed: dict[str, Candidate] = {}
        for record in by_task[task_id]:
            if is_degenerate(record["completion"]):
                stats["degenerate"] += 1
                continue
            answer = kind.answer_text(record["completion"])
            side = correct if record["category"] == "correct" else failed
            side.setdefault(answer, Candidate(answer, record["category"]))
        if not correct and no_correct == "gold" and task.reference:
            correct[task.reference] = Candidate(kind.format_answer(task.reference), "correct", "gold")
            stats["gold_chosen_tasks"] += 1
        if not correct:
            stats["skipped_no_correct"] += 1
            continue
        if not failed:
            stats["skipped_no_failed"] += 1
            continue
        prompt = build_messages(task, template, system_prompt)
        for chosen, rejected in pair_task(list(correct.values()), list(failed.values()), k, rng):
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": chosen.answer}],
                    "rejected": [{"role": "assistant", "content": rejected.answer}],
                    "task_id": task_id,
                    "iteration": iteration,
                    "chosen_source": chosen.source,
                    "rejected_category": rejected.category,
                }
            )
        stats["paired_tasks"] += 1
    stats["pairs"] = len(rows)
    return Dataset.from_list(rows, features=None) if rows else _empty_dataset(), stats


def _empty_dataset() -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": [],
            "chosen": [],
            "rejected": [],
            "task_id": [],
            "iteration": [],
            "chosen_source": [],
            "rejected_category": [],
        }
    )


def _natural_key(task_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task_id))
