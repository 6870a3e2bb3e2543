"""The task record every stage works on: a question with a way to check answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Task:
    """One training or evaluation question.

    Attributes:
        task_id: Stable identifier, unique within a task set.
        kind: ``"sql"`` or ``"python"``; selects prompt, extraction and verification.
        question: The natural-language question or problem statement.
        reference: The gold solution (SQL query or program), ``None`` when there is none.
    """

    task_id: str
    kind: str
    question: str
    reference: str | None = None

    def prompt_fields(self) -> dict[str, str]:
        """Values a prompt template may name, e.g. ``{question}``."""
        return {"question": self.question}


@dataclass(frozen=True, kw_only=True)
class SQLTask(Task):
    """A text-to-SQL question over one SQLite database (Spider layout).

    Attributes:
        db_id: Database name, as in Spider's ``db_id``.
        db_path: Path of the SQLite file the queries run on.
        schema: The ``CREATE TABLE`` statements (``{schema}`` in a prompt template).
        tables: The same tables as ``name(column, ...)`` lines (``{tables}``), a third of the tokens.
    """

    kind: str = "sql"
    db_id: str
    db_path: str
    schema: str
    tables: str = ""

    def prompt_fields(self) -> dict[str, str]:
        return {"question": self.question, "schema": self.schema, "tables": self.tables, "db_id": self.db_id}
