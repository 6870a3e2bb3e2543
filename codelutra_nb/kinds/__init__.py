"""Task kinds: one `TaskKind` per module, and the one registry the loop looks kinds up in.

Adding a kind is one new module with a `TaskKind` subclass plus one line in `KINDS`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Literal

from ..config import TaskParams, VerifyParams
from ..errors import ConfigError, TaskDataError
from ..verdicts import Verdict
from .base import Task, TaskKind, check_task_ids
from .python import PythonKind
from .selection import select_ids
from .sql import SQLKind

__all__ = ["KINDS", "Task", "TaskKind", "get_kind", "load_tasks", "verify_candidates"]

KINDS: dict[str, TaskKind] = {
    "sql": SQLKind(),
    "python": PythonKind(),
}
"""Kind name (the ``task_kind`` parameter) -> the kind."""

_SLICE_SEED = 0


def get_kind(name: str) -> TaskKind:
    """The registered kind called ``name``; `ConfigError` listing the known ones otherwise."""
    if name not in KINDS:
        raise ConfigError(
            f"Unknown task kind {name!r}; known kinds: {sorted(KINDS)}. A new kind is a TaskKind "
            "subclass registered in codelutra_nb/kinds/__init__.py (KINDS)."
        )
    return KINDS[name]


def load_tasks(params: TaskParams, split: Literal["train", "eval"], iteration: int | None = None) -> dict[str, Task]:
    """The training or held-out tasks by id, as ``params`` selects them (source, ids, limit); with ``iteration``,
    the training tasks of that iteration (`iteration_slice` by ``train_per_iteration``)."""
    if split == "train":
        source, ids, limit = params.train_tasks, params.train_ids, params.train_limit
    else:
        source, ids, limit = params.eval_tasks, params.eval_ids, params.eval_limit
    tasks = select_ids(get_kind(params.task_kind).load_tasks(source, params), ids)
    tasks = tasks[:limit] if limit is not None else tasks
    if split == "train" and iteration is not None and params.train_per_iteration is not None:
        tasks = iteration_slice(tasks, iteration, params.train_per_iteration)
    return {t.task_id: t for t in tasks}


def iteration_slice(tasks: Sequence[Task], iteration: int, size: int) -> list[Task]:
    """Iteration t's ``size`` tasks (t >= 1): the (t-1)-th slice of ``tasks`` in a fixed shuffled order, wrapping
    around, so consecutive iterations see different questions (mixed across databases) until all were seen."""
    order = list(tasks)
    random.Random(_SLICE_SEED).shuffle(order)
    if size >= len(order):
        return order
    start = (iteration - 1) * size % len(order)
    return (order + order)[start : start + size]


def verify_candidates(
    tasks: Mapping[str, Task], candidates: Sequence[tuple[str, str]], params: VerifyParams, *, progress: bool = True
) -> list[Verdict]:
    """One `Verdict` per ``(task_id, raw completion)``, in input order, by the tasks' kind."""
    check_task_ids(tasks, candidates)
    kinds = {tasks[tid].kind for tid, _ in candidates}
    if len(kinds) > 1:
        raise TaskDataError(f"Candidates mix task kinds {sorted(kinds)}; verify one kind at a time.")
    if not kinds:
        return []
    return get_kind(kinds.pop()).verify(tasks, candidates, params, progress=progress)
