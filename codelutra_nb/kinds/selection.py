"""Choosing a subset of tasks by id: ``"601-974"``, ``"1,5,9"`` or a mix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..errors import ConfigError

T = TypeVar("T")


def select_ids(tasks: Sequence[T], spec: str | None) -> list[T]:
    """Keep tasks whose ``task_id`` is named by ``spec``; numeric ranges are inclusive."""
    if spec is None or str(spec).strip() == "":
        return list(tasks)
    wanted: set[str] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if "-" in part and all(p.strip().isdigit() for p in part.split("-", 1)):
            lo, hi = (int(p) for p in part.split("-", 1))
            if lo > hi:
                raise ConfigError(f"Task id range {part!r} is empty: write it low-high, e.g. '601-974'.")
            wanted.update(str(i) for i in range(lo, hi + 1))
        elif part:
            wanted.add(part)
    kept = [t for t in tasks if str(t.task_id) in wanted]
    if not kept:
        raise ConfigError(
            f"No task matches ids {spec!r}; the task set's ids look like {[t.task_id for t in tasks[:3]]}."
        )
    return kept
