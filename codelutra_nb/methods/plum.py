"""PLUM: the model writes reference solutions and assert suites per question; its samples are labelled by the suites
their own reference passes, and KTO learns from the unpaired, imbalanced labels.

Per training question the generator (the policy M(t-1), or ``test_generator``) is asked ``test_attempts`` times to
analyse the problem, write a solution, then asserts runnable after any student's solution. Each answer's asserts are
one suite, each assert run alone after that answer's solution in the sandbox: a suite is kept only if its solution
passes every assert of it (one failure drops the whole suite), and a question whose suites are all dropped is
dropped. The question's tests are the distinct asserts of its kept suites. Each of the K samples is then run against
every test: passing all makes it desirable; a failed one is undesirable as ``negatives`` says (`is_negative`).
Questions with no desirable sample are dropped. ``trainer: dpo`` pairs desirable with undesirable answers instead,
min(#desirable, #undesirable) pairs per question, no answer used twice. The task's own tests are only used by the
evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import PAIR, TRAIN, LoopConfig, param
from ..kinds import Task, get_kind
from ..layout import GENERATED_TESTS
from ..pairing import (
    COMPLETION_COLUMNS,
    PREFERENCE_COLUMNS,
    Candidate,
    balanced_pairs,
    by_task,
    completion_row,
    is_degenerate,
    preference_row,
    rows_dataset,
)
from ..prompts import messages_for
from .base import Rows
from .testgen import (
    GENERATION_PARAMS,
    WritesTests,
    ask,
    assert_lines,
    generate,
    programs_of,
    run_matrix,
    solution_block,
)
from .trainers import DPO, KTO, Trainer

PROMPT = (
    "{question}\n\nFirst analyse the problem in two or three sentences. Then write a reference solution defining "
    "`{entry_point}` in a ```python block. Then write five assert statements, one per line, in a second ```python "
    "block: they must run after any student's solution that defines `{entry_point}`, and pass only if it is right."
)
_ERRORS = frozenset({"syntax_error", "runtime_error", "timeout"})


def is_negative(categories: Sequence[str], negatives: str) -> bool:
    """Whether a failed sample (its category against each test) is an undesirable row under rule ``negatives``.

    - ``all``: every failed sample.
    - ``runnable`` (the paper's: solutions that fail to execute are dropped): the program runs; a syntax error, or an
      error or timeout on every test (it crashes or hangs whatever the input), drops it. A program that runs and
      fails some tests by an exception on their input is a negative.
    - ``failing`` (the paper's ablation, wrong answers only): every failed test is a wrong answer; an error or a
      timeout on any test drops it.
    """
    if negatives == "all":
        return True
    if negatives == "failing":
        return all(c in ("correct", "wrong_answer") for c in categories)
    return "syntax_error" not in categories and not all(c in _ERRORS for c in categories)


@dataclass(frozen=True)
class Plum(WritesTests):
    """PLUM: the model writes reference solutions and assert suites per question; a suite is kept only when its own
    solution passes all of it; samples passing every kept assert are desirable, failed ones that run undesirable,
    and KTO learns from the unpaired labels."""

    name = "plum"
    kinds = ("python",)
    pair_reads = GENERATION_PARAMS
    trainer: Literal["kto", "dpo"] = param(
        "kto",
        "kto: unpaired desirable / undesirable rows (the paper's); dpo: min(#desirable, #undesirable) pairs per "
        "question, each answer used once.",
        shapes=(PAIR, TRAIN),
    )
    negatives: Literal["runnable", "all", "failing"] = param(
        "runnable",
        "Failed samples that become undesirable rows: runnable (the paper's: drops a syntax error, and an error or "
        "timeout on every test, i.e. a program that does not run), failing (wrong answers only: an error or timeout "
        "on any test drops it; the paper's ablation), or all.",
        shapes=(PAIR,),
    )
    test_attempts: int = param(
        3,
        "Answers (solution + assert suite) asked of the generator per question; a suite is kept only if its own "
        "solution passes all of it.",
        gt=0,
        shapes=(PAIR,),
    )

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        groups = by_task(verdicts)
        asked = [tasks[tid] for tid in groups]
        answers = generate(
            [ask(PROMPT, t) for t in asked],
            cfg,
            policy,
            self.test_generator,
            n=self.test_attempts,
            desc="plum: writing tests",
            temperature=self.test_temperature,
            max_new_tokens=self.test_max_new_tokens,
        )
        suites = [
            (task, solution_block(text), assert_lines(text)) for task, texts in zip(asked, answers) for text in texts
        ]
        checks = run_matrix([(task, [solution], tests) for task, solution, tests in suites], cfg)
        extras: dict[str, dict] = {t.task_id: {"task_id": t.task_id, "suites": [], "kept": []} for t in asked}
        for (task, solution, tests), cats in zip(suites, checks):
            kept = solution is not None and bool(tests) and all(c == "correct" for c in cats[0])
            record = extras[task.task_id]
            record["suites"].append({"solution": solution, "tests": tests, "kept": kept})
            if kept:
                record["kept"] += [test for test in tests if test not in record["kept"]]
        kept = {tid: record["kept"] for tid, record in extras.items()}
        labelled = [tid for tid in groups if kept[tid]]
        runs = run_matrix(
            [
                (tasks[tid], programs_of(tasks[tid], [r["completion"] for r in groups[tid]]), kept[tid])
                for tid in labelled
            ],
            cfg,
        )
        rng = random.Random(cfg.run.seed + cfg.run.iteration)
        rows: list[dict] = []
        stats = {
            "tasks": len(groups),
            "generated_suites": len(suites),
            "kept_suites": sum(s["kept"] for record in extras.values() for s in record["suites"]),
            "generated_tests": sum(len(tests) for _, _, tests in suites),
            "kept_tests": sum(len(k) for k in kept.values()),
            "tasks_with_tests": len(labelled),
            "tasks_with_correct": 0,
            "degenerate": 0,
            "desirable": 0,
            "undesirable": 0,
            "not_negatives": 0,
        }
        use_dpo = self.trainer == "dpo"
        for tid, categories in zip(labelled, runs):
            kind, task = get_kind(tasks[tid].kind), tasks[tid]
            good: dict[str, Candidate] = {}
            bad: dict[str, Candidate] = {}
            for record, cats in zip(groups[tid], categories):
                if is_degenerate(record["completion"]):
                    stats["degenerate"] += 1
                    continue
                answer = kind.answer_text(record["completion"])
                if all(c == "correct" for c in cats):
                    good.setdefault(answer, Candidate(answer, "correct"))
                elif is_negative(cats, self.negatives):
                    bad.setdefault(answer, Candidate(answer, next(c for c in cats if c != "correct")))
                else:
                    stats["not_negatives"] += 1
            if not good:
                continue
            stats["tasks_with_correct"] += 1
            stats["desirable"] += len(good)
            stats["undesirable"] += len(bad)
            prompt, t = messages_for(task, cfg.tasks), cfg.run.iteration
            if use_dpo:
                pairs = balanced_pairs(list(good.values()), list(bad.values()), rng)
                rows += [preference_row(prompt, c.answer, r.answer, tid, t) for c, r in pairs]
            else:
                rows += [completion_row(prompt, a, tid, t, label=True) for a in good]
                rows += [completion_row(prompt, a, tid, t, label=False) for a in bad]
        stats["rows"] = len(rows)
        columns = PREFERENCE_COLUMNS if use_dpo else COMPLETION_COLUMNS + ("label",)
        return Rows(rows_dataset(rows, columns), stats, {GENERATED_TESTS: list(extras.values())})

    def make_trainer(self) -> Trainer:
        return DPO(sft_weight=0.0) if self.trainer == "dpo" else KTO()

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no training rows under plum: no question kept a generated suite that its "
            "own solution passes whole, or none had a sample passing them all. Try a stronger test_generator, more "
            "test_attempts, more samples (num_samples, temperature), or another method."
        )
