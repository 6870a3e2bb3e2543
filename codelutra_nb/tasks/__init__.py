"""Task sets: bundled ones by name, or files in the Spider / MBPP / HumanEval / DS-1000 layouts."""

from __future__ import annotations

from .base import SQLTask, Task
from .selection import select_ids

__all__ = ["SQLTask", "Task", "load_tasks", "select_ids"]


def load_tasks(source: str, kind: str, *, db_dir: str | None = None, ids: str | None = None,
               limit: int | None = None) -> list[Task]:
    """Load a task set.

    Args:
        source: A bundled set such as ``"demo-sql/train"``, or a path to a task file.
        kind: ``"sql"`` or ``"python"``.
        db_dir: For SQL files: the folder holding ``<db_id>/<db_id>.sqlite`` (Spider's ``database``).
        ids: Keep only these task ids (``"601-974"``, ``"1,5,9"``).
        limit: Keep only the first ``limit`` tasks (after ``ids``).
    """
    if kind == "sql":
        from .spider import load_sql_tasks

        tasks: list[Task] = list(load_sql_tasks(source, db_dir=db_dir))
    elif kind == "python":
        from .python import load_python_tasks

        tasks = list(load_python_tasks(source))
    else:
        from ..errors import TaskDataError

        raise TaskDataError(f"Unknown task kind {kind!r}; use 'sql' or 'python'.")
    tasks = select_ids(tasks, ids)
    return tasks[:limit] if limit is not None else tasks
