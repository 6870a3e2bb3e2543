"""The task record every stage works on, and the interface a task kind implements.

A task kind (SQL, Python, ...) knows how to load its tasks, how to ask for an
answer, how to pull the program out of raw model output, how to train an
answer, and how to run and judge candidates. Nothing outside the kind's own
module branches on which kind it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import TaskDataError

if TYPE_CHECKING:
    from ..config import TaskParams, VerifyParams
    from ..verdicts import Verdict


@dataclass(frozen=True, kw_only=True)
class Task:
    """One training or evaluation question.

    Attributes:
        task_id: Stable identifier, unique within a task set.
        kind: Name of the task kind in the registry (``"sql"``, ``"python"``, ...).
        question: The natural-language question or problem statement.
        reference: The gold solution (SQL query or program), ``None`` when there is none.
        source: The file the task was read from (hidden from sandboxed candidates: it holds the references).
    """

    task_id: str
    kind: str
    question: str
    reference: str | None = None
    source: str | None = None

    def prompt_fields(self) -> dict[str, str]:
        """Values a prompt template may name, e.g. ``{question}``."""
        return {"question": self.question}

    @property
    def group(self) -> str | None:
        """What held-out results are broken down by (SQL: the database); None: no breakdown."""
        return None


class TaskKind(ABC):
    """What the loop needs to know about one kind of task; one subclass per kind, registered in `kinds.KINDS`."""

    name: ClassVar[str]

    @abstractmethod
    def load_tasks(self, source: str, params: TaskParams) -> list[Task]:
        """The tasks of ``source`` (a bundled set name or a file path), checked; `TaskDataError` says what is off."""

    @abstractmethod
    def default_template(self, task: Task) -> str:
        """The user-turn template (``str.format`` over ``task.prompt_fields()``) when ``prompt_template`` is None."""

    @abstractmethod
    def extract_code(self, text: str) -> str | None:
        """The candidate program in raw model output, or None when there is none."""

    @abstractmethod
    def code_complete(self, text: str) -> bool:
        """True once no continuation of ``text`` can change `extract_code` (generation may stop there)."""

    @abstractmethod
    def format_answer(self, code: str) -> str:
        """The assistant turn a program is trained as (its canonical form)."""

    @abstractmethod
    def verify(
        self,
        tasks: Mapping[str, Task],
        candidates: Sequence[tuple[str, str]],
        params: VerifyParams,
        *,
        progress: bool = True,
    ) -> list[Verdict]:
        """One `Verdict` per ``(task_id, raw completion)``, in input order."""

    def answer_text(self, completion: str) -> str:
        """What a completion is trained as: its extracted program in canonical form, else the raw text."""
        code = self.extract_code(completion)
        return self.format_answer(code) if code is not None else completion.strip()


MAX_COMPLETION_CHARS = 100_000
"""Raw output is cut to this many characters before any text processing: no answer of a code model is this long,
and one candidate must not hold a verifier for long (extraction is linear; this bounds the constant)."""


def check_task_ids(tasks: Mapping[str, object], candidates: Sequence[tuple[str, str]]) -> None:
    """`TaskDataError` before anything runs if a candidate names a task id that ``tasks`` lacks."""
    unknown = sorted({tid for tid, _ in candidates if tid not in tasks})
    if unknown:
        raise TaskDataError(
            f"{len(unknown)} candidate(s) name unknown task ids, e.g. {unknown[:5]}; the task set has "
            f"ids like {list(tasks)[:3]}. Load the task file the candidates were sampled for."
        )
