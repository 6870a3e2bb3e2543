"""CodeLutra's pairing rule, from verified samples to a preference dataset.

Per question, K pairs: a chosen answer drawn from the correct samples and a
rejected one from the failed samples, with replacement when a side has fewer
than K distinct answers. Degenerate outputs (a long stretch repeated over and
over) are dropped first. A question with no correct sample is skipped or gets
its gold solution as the chosen answer (``no_correct``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .kinds import Task, get_kind
from .prompts import build_messages

if TYPE_CHECKING:
    from datasets import Dataset

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


def balanced_pairs(
    correct: Sequence[Candidate], failed: Sequence[Candidate], rng: random.Random
) -> list[tuple[Candidate, Candidate]]:
    """min(#correct, #failed) (chosen, rejected) pairs, each side drawn without replacement: no answer is used twice
    (PLUM's balanced pairs, against `pair_task`'s K pairs with replacement)."""
    n = min(len(correct), len(failed))
    return list(zip(rng.sample(list(correct), n), rng.sample(list(failed), n)))


def by_task(samples: Sequence[dict]) -> dict[str, list[dict]]:
    """Verified samples grouped by task id, in natural task order (``2`` before ``10``)."""
    groups: dict[str, list[dict]] = {}
    for record in samples:
        groups.setdefault(str(record["task_id"]), []).append(record)
    return {task_id: groups[task_id] for task_id in sorted(groups, key=_natural_key)}


def split_answers(
    task: Task, records: Sequence[dict], chosen: Collection[str]
) -> tuple[list[Candidate], list[Candidate], int]:
    """The distinct answers of one task's samples whose category is in ``chosen``, the other distinct answers, and how
    many degenerate samples were dropped first. Answers are compared as trained (`TaskKind.answer_text`)."""
    kind = get_kind(task.kind)
    good: dict[str, Candidate] = {}
    bad: dict[str, Candidate] = {}
    degenerate = 0
    for record in records:
        if is_degenerate(record["completion"]):
            degenerate += 1
            continue
        answer = kind.answer_text(record["completion"])
        side = good if record["category"] in chosen else bad
        side.setdefault(answer, Candidate(answer, record["category"]))
    return list(good.values()), list(bad.values()), degenerate


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
    chosen: Collection[str] = ("correct",),
) -> tuple[Dataset, dict]:
    """The preference dataset (TRL conversational prompt/chosen/rejected + metadata) and pairing statistics.

    Args:
        samples: Records with ``task_id``, ``completion``, ``category`` (verified samples).
        k: Pairs per question.
        no_correct: ``"skip"`` or ``"gold"`` for questions without a chosen sample.
        chosen: Categories of the chosen side (CodeLutra: correct; executability: correct and wrong_answer).
    """
    groups = by_task(samples)
    rng = random.Random(seed)
    rows: list[dict] = []
    stats = {
        "tasks": len(groups),
        "paired_tasks": 0,
        "gold_chosen_tasks": 0,
        "degenerate": 0,
        "skipped_no_correct": 0,
        "skipped_no_failed": 0,
    }
    for task_id, records in groups.items():
        task = tasks[task_id]
        correct, failed, degenerate = split_answers(task, records, chosen)
        stats["degenerate"] += degenerate
        if not correct and no_correct == "gold" and task.reference:
            correct = [Candidate(get_kind(task.kind).format_answer(task.reference), "correct", "gold")]
            stats["gold_chosen_tasks"] += 1
        if not correct:
            stats["skipped_no_correct"] += 1
            continue
        if not failed:
            stats["skipped_no_failed"] += 1
            continue
        prompt = build_messages(task, template, system_prompt)
        rows += [
            preference_row(prompt, good.answer, bad.answer, task_id, iteration, chosen_source=good.source,
                           rejected_category=bad.category)
            for good, bad in pair_task(correct, failed, k, rng)
        ]  # fmt: skip
        stats["paired_tasks"] += 1
    stats["pairs"] = len(rows)
    return rows_dataset(rows, PREFERENCE_COLUMNS + ("chosen_source", "rejected_category")), stats


PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected", "task_id", "iteration")
COMPLETION_COLUMNS = ("prompt", "completion", "task_id", "iteration")


def preference_row(prompt: list[dict], chosen: str, rejected: str, task_id: str, iteration: int, **meta) -> dict:
    """A TRL conversational preference row (prompt / chosen / rejected) with the task id, iteration and metadata."""
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], "task_id": task_id, "iteration": iteration,
            **meta}  # fmt: skip


def completion_row(prompt: list[dict], answer: str, task_id: str, iteration: int, **meta) -> dict:
    """A TRL conversational prompt / completion row (SFT; KTO with ``label``) with the task id and iteration."""
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}], "task_id": task_id,
            "iteration": iteration, **meta}  # fmt: skip


def rows_dataset(rows: list[dict], columns: Sequence[str]) -> Dataset:
    """The rows as a dataset; with no rows, an empty one that still has ``columns``."""
    from datasets import Dataset

    return Dataset.from_list(rows) if rows else Dataset.from_dict({column: [] for column in columns})


def load_rows(path: str | Path) -> Dataset:
    """Training rows saved with ``save_to_disk``; an empty dataset (which ``load_from_disk`` cannot read back: it
    has no data file) comes back empty, with its columns."""
    from datasets import Dataset, Features, load_from_disk

    path = Path(path)
    if json.loads((path / "state.json").read_text())["_data_files"]:
        return load_from_disk(str(path))
    features = Features.from_dict(json.loads((path / "dataset_info.json").read_text())["features"])
    return Dataset.from_dict({column: [] for column in features}, features=features)


def _natural_key(task_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task_id))
