"""What PLUM and DSTC share: asking a model for assert tests, and running programs against them in the sandbox.

Tests are single ``assert`` lines that compile on their own. `run_matrix` runs every program of a
question against every test of that question (one sandbox run each) and returns the categories,
so ``passes[i][j]`` is ``categories[i][j] == "correct"``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from ..config import PAIR, LoopConfig, param
from ..kinds.python.extraction import extract_python
from ..kinds.python.sandbox import verify_python
from ..kinds.python.tasks import PythonTask, program_for, syntax_problem
from .base import Method

GENERATION_PARAMS = (
    "base_model",
    "dtype",
    "load_in_4bit",
    "top_p",
    "sampler",
    "exec_timeout_s",
    "exec_memory_mb",
)
"""Shared parameters that shape the tests a method has written and run (its `Method.pair_reads`); the temperature
and length of test generation are the method's own (`test_temperature`, `test_max_new_tokens`)."""


@dataclasses.dataclass(frozen=True)
class WritesTests(Method):
    """The parameters of the methods whose tests a model writes (plum, dstc), and what they mean for the engine."""

    test_generator: str | None = param(
        None,
        "The model that writes the tests (plum: and the reference solution): a Hub id or folder; null: the policy "
        "M(t-1).",
        shapes=(PAIR,),
    )
    test_temperature: float = param(
        0.8,
        "Sampling temperature of the answers that hold the tests (its own, not `temperature`: the papers do not "
        "give one; a little below sampling's 1.0 so more tests are right while several answers still differ).",
        ge=0,
        shapes=(PAIR,),
    )
    test_max_new_tokens: int = param(
        768,
        "New tokens per answer that holds the tests at most (its own, not `max_new_tokens`: a solution followed by "
        "its asserts is longer than a sample).",
        gt=0,
        shapes=(PAIR,),
    )

    @property
    def pairs_with_policy(self) -> bool:
        return self.test_generator is None


_ASSERT = re.compile(r"^[ \t]*(assert\b.*)$", re.MULTILINE)
_CALL = re.compile(r"\bassert\s+\(?\s*(?:not\s+)?\(?([A-Za-z_]\w*)\s*\(")
_DEF = re.compile(r"^[ \t]*def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)  # [ \t]*: linear on blank lines


def entry_point(task: PythonTask) -> str:
    """The name of the function a task asks for: its ``entry_point``, else the one its tests or reference call."""
    if task.entry_point:
        return task.entry_point
    for pattern, text in ((_CALL, task.tests), (_DEF, task.reference or "")):
        match = pattern.search(text)
        if match:
            return match.group(1)
    return "solution"


def assert_lines(*texts: str) -> list[str]:
    """The distinct one-line ``assert`` statements in raw model output that compile on their own, in order (over
    several answers: each distinct assert once)."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _ASSERT.finditer(text):
            line = match.group(1).strip()
            if line not in found and syntax_problem(line) is None:
                found[line] = None
    return list(found)


def solution_block(text: str) -> str | None:
    """The reference solution in a generator's answer: the first fenced block that defines a function."""
    for block in re.findall(r"```[ \t]*(?:python|py|python3)?[^\n]*\n(.*?)```", text, re.DOTALL):
        if _DEF.search(block):
            return block.strip("\n")
    code = extract_python(text)
    return code if code and _DEF.search(code) else None


def ask(template: str, task: PythonTask) -> list[dict[str, str]]:
    """The conversation asking for tests: ``template`` filled with the task's question and function name."""
    return [{"role": "user", "content": template.format(question=task.question, entry_point=entry_point(task))}]


def generate(
    conversations: Sequence[list[dict]],
    cfg: LoopConfig,
    policy: Path | None,
    test_generator: str | None,
    n: int,
    desc: str,
    *,
    temperature: float,
    max_new_tokens: int,
) -> list[list[str]]:
    """``n`` answers per conversation from ``test_generator`` (None: the policy M(t-1)) at ``temperature``, each of
    ``max_new_tokens`` at most (stage 1's ``top_p`` and sampler)."""
    from ..sampling import GenerationSettings, close, make_sampler  # torch: only when generating

    model, adapter = cfg.model, policy
    if test_generator is not None:
        model, adapter = dataclasses.replace(cfg.model, base_model=test_generator), None
    sampler = make_sampler(
        cfg.sampling.sampler, model, adapter, batch_size=cfg.sampling.sample_batch_size, desc=desc, cfg=cfg
    )
    settings = GenerationSettings(n, temperature, cfg.sampling.top_p, max_new_tokens)
    try:
        return sampler.generate(list(conversations), settings, seed=cfg.run.seed * 7919 + cfg.run.iteration)
    finally:
        close(sampler)


def run_matrix(
    jobs: Sequence[tuple[PythonTask, Sequence[str | None], Sequence[str]]], cfg: LoopConfig
) -> list[list[list[str]]]:
    """For each ``(task, programs, tests)``: the category of every program against every test (a program that is
    None or does not compile is ``syntax_error`` against all). All runs of all tasks go to the sandbox at once."""
    tasks: dict[str, PythonTask] = {}
    candidates: list[tuple[str, str]] = []
    where: list[tuple[int, int, int]] = []
    results = [[["syntax_error"] * len(tests) for _ in programs] for _, programs, tests in jobs]
    for q, (task, programs, tests) in enumerate(jobs):
        for j, test in enumerate(tests):
            tid = f"{task.task_id}#{q}.test{j}"  # q: one task may come in several jobs (PLUM's suites)
            tasks[tid] = PythonTask(  # reference and entry point: names the judge takes from the program (plan.py)
                task_id=tid, question=task.question, tests=test, setup=task.setup, source=task.source,
                reference=task.reference, entry_point=task.entry_point,
            )  # fmt: skip
            for i, program in enumerate(programs):
                if program is not None:
                    candidates.append((tid, f"```python\n{program}\n```"))
                    where.append((q, i, j))
    verify = cfg.verification
    verdicts = (
        verify_python(
            tasks,
            candidates,
            timeout_s=verify.exec_timeout_s,
            memory_mb=verify.exec_memory_mb,
            workers=verify.workers,
            progress=True,
        )
        if candidates
        else []
    )
    for (q, i, j), verdict in zip(where, verdicts):
        results[q][i][j] = verdict.category.value
    return results


def programs_of(task: PythonTask, completions: Sequence[str]) -> list[str | None]:
    """The program each raw completion stands for (None where it holds no code)."""
    return [program_for(task, completion) for completion in completions]
