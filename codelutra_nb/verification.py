"""Stage 2: run every candidate and give it a category, dispatching on the task kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import TaskDataError
from .tasks.base import Task
from .verdicts import Verdict


def verify_candidates(tasks: Mapping[str, Task], candidates: Sequence[tuple[str, str]], *, timeout_s: float = 5.0,
                      workers: int | None = None, max_rows: int = 100_000, memory_mb: int = 1024,
                      progress: bool = True) -> list[Verdict]:
    """One `Verdict` per ``(task_id, raw completion)``, in input order."""
    missing = sorted({tid for tid, _ in candidates if tid not in tasks})
    if missing:
        raise TaskDataError(f"Candidates name task ids that are not in the task set: {missing[:10]}"
                            f"{' ...' if len(missing) > 10 else ''}. Check the tasks file matches the candidates.")
    kinds = {tasks[tid].kind for tid, _ in candidates}
    if len(kinds) > 1:
        raise TaskDataError(f"Candidates mix task kinds {sorted(kinds)}; verify one kind at a time.")
    kind = kinds.pop() if kinds else "sql"
    if kind == "sql":
        from .execution.sql import verify_sql

        return verify_sql(tasks, candidates, timeout_s=timeout_s, max_rows=max_rows, workers=workers, progress=progress)
    from .execution.python_sandbox import verify_python

    return verify_python(tasks, candidates, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers, progress=progress)
