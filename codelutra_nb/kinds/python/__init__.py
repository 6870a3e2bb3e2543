"""Python programming problems (MBPP, HumanEval, DS-1000 layouts), judged by their tests in a sandbox.

Loading and the program a completion stands for (`tasks`), the sandbox and
batch verifier (`sandbox`) and extraction from raw output (`extraction`) live
in this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...config import TaskParams, VerifyParams
from ...verdicts import Verdict
from ..base import Task, TaskKind
from .extraction import extract_python, python_complete
from .sandbox import verify_python
from .tasks import PythonTask, load_python_tasks

__all__ = ["PythonKind", "PythonTask"]

DEFAULT_TEMPLATES: dict[str, str] = {
    "mbpp": "{question}\n\nYour code should pass these tests:\n{tests}",
    "humaneval": "Complete the following Python function and return the whole function in a ```python block.\n\n"
    "```python\n{prompt}```",
    "ds1000": "{prompt}",
}
"""Default user-turn template per layout."""


class PythonKind(TaskKind):
    """Python answers: a program in a fence, run with the task's tests in the sandbox."""

    name = "python"

    def load_tasks(self, source: str, params: TaskParams) -> list[Task]:
        return list(load_python_tasks(source))

    def default_template(self, task: Task) -> str:
        return DEFAULT_TEMPLATES[task.layout]  # type: ignore[attr-defined]

    def extract_code(self, text: str) -> str | None:
        return extract_python(text)

    def code_complete(self, text: str) -> bool:
        return python_complete(text)

    def format_answer(self, code: str) -> str:
        """The program in a ```python fence."""
        return f"```python\n{code.strip()}\n```"

    def verify(
        self,
        tasks: Mapping[str, Task],
        candidates: Sequence[tuple[str, str]],
        params: VerifyParams,
        *,
        progress: bool = True,
    ) -> list[Verdict]:
        return verify_python(
            tasks,
            candidates,
            timeout_s=params.exec_timeout_s,  # type: ignore[arg-type]
            memory_mb=params.exec_memory_mb,
            workers=params.workers,
            progress=progress,
        )
