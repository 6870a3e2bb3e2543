"""A sampler backend of the tests' own (``sampler: scripted_sampler:ScriptedSampler``, with ``tests/`` on the path):
scripted answers to MBPP questions, so every method finds training rows through the notebooks, whatever the model.

It recognises the question in each conversation (the bundled MBPP's problems) and answers as a model might:

- a training question, K samples: the gold program, then a wrong one (returns None), then one that does not compile,
  round and round;
- PLUM's request for a solution and tests: the gold program and the question's own asserts;
- DSTC's request for code and tests in one answer: the gold program, then the question's asserts from the n-th on
  (each answer a different suite);
- a held-out question (one sample): the gold program for every other question, a wrong one for the rest.

The model itself still trains: only what it would write is scripted.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from codelutra_nb.config import ModelParams
from codelutra_nb.kinds.python.tasks import PythonTask, load_python_tasks
from codelutra_nb.methods.testgen import entry_point
from codelutra_nb.sampling import GenerationSettings


@cache
def _mbpp() -> list[PythonTask]:
    return load_python_tasks("mbpp")


def _task(conversation: list[dict[str, str]]) -> PythonTask:
    asked = conversation[-1]["content"]
    return next(task for task in _mbpp() if task.question in asked)


def _fence(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


class ScriptedSampler:
    """Scripted answers for the bundled MBPP questions (see the module docstring)."""

    def __init__(self, desc: str):
        self.desc = desc

    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str) -> ScriptedSampler:
        return cls(desc)

    def generate(
        self, conversations: Sequence[list[dict[str, str]]], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        return [[self._answer(c, j, settings.n) for j in range(settings.n)] for c in conversations]

    def _answer(self, conversation: list[dict[str, str]], j: int, n: int) -> str:
        task = _task(conversation)
        asked = conversation[-1]["content"]
        asserts = [line for line in task.tests.splitlines() if line.startswith("assert")]
        wrong = _fence(f"def {entry_point(task)}(*args, **kwargs):\n    return None")
        if "several assert statements" in asked:  # DSTC's code and tests
            return f"{_fence(task.reference)}\n{_fence(chr(10).join(asserts[j % len(asserts) :]))}"
        if "write five assert statements" in asked:  # PLUM's solution and tests
            return f"It follows the problem.\n{_fence(task.reference)}\n{_fence(chr(10).join(asserts))}"
        if n == 1:  # a held-out answer
            return _fence(task.reference) if int(task.task_id) % 2 else wrong
        return [_fence(task.reference), wrong, _fence(f"def {entry_point(task)}(:\n    pass")][j % 3]
