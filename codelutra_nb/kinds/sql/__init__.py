"""Text-to-SQL: Spider- or BIRD-layout questions over SQLite databases, judged by execution accuracy.

Loading (`tasks`), read-only bounded execution and comparison (`execution`) and
extraction of the query from raw output (`extraction`) live in this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...config import TaskParams, VerifyParams
from ...verdicts import Verdict
from ..base import Task, TaskKind
from .execution import verify_sql
from .extraction import extract_sql, sql_complete
from .tasks import SQLTask, load_sql_tasks

__all__ = ["SQLKind", "SQLTask"]

DEFAULT_TEMPLATE = "{schema}\n\nWrite an SQLite query that answers: {question}"
"""Chosen by measurement on SmolLM2-135M: a bare ``<schema>\\n\\nQuestion: <q>`` drew mostly prose (0% correct),
while asking for "an SQLite query that answers" gave 4% correct and 34% executable at T=0.2."""
EVIDENCE_TEMPLATE = "{schema}\n\nExternal knowledge: {evidence}\n\nWrite an SQLite query that answers: {question}"
"""The default for a question with evidence (BIRD): the same, with the knowledge the question needs before it."""


class SQLKind(TaskKind):
    """SQL answers: one statement, compared with the gold query's result on the same database."""

    name = "sql"

    def load_tasks(self, source: str, params: TaskParams) -> list[Task]:
        return list(load_sql_tasks(source, db_dir=params.db_dir))

    def default_template(self, task: Task) -> str:
        return EVIDENCE_TEMPLATE if getattr(task, "evidence", "") else DEFAULT_TEMPLATE

    def extract_code(self, text: str) -> str | None:
        return extract_sql(text)

    def code_complete(self, text: str) -> bool:
        return sql_complete(text)

    def format_answer(self, code: str) -> str:
        """Plain SQL ending in ``;``."""
        return code.strip().rstrip(";").rstrip() + ";"

    def verify(
        self,
        tasks: Mapping[str, Task],
        candidates: Sequence[tuple[str, str]],
        params: VerifyParams,
        *,
        progress: bool = True,
    ) -> list[Verdict]:
        return verify_sql(
            tasks,
            candidates,
            timeout_s=params.exec_timeout_s,
            max_rows=params.max_rows,  # type: ignore[arg-type]
            workers=params.workers,
            progress=progress,
        )
