"""PLUM: the model writes a reference solution and assert tests per question; its samples are labelled by the
tests that reference passes, and KTO learns from the unpaired, imbalanced labels.

Per training question the generator (the policy M(t-1), or ``test_generator``) is asked to analyse the problem,
write a solution, then asserts runnable after any student's solution. Each assert is run alone after that
solution in the sandbox; only those it passes are kept, and a question left with none is dropped. Each of the K
samples is then run against every kept test: passing all makes it desirable, failing one undesirable (with
``negatives: runnable``, only samples that ran without a syntax error count as undesirable). Questions with no
desirable sample are dropped. ``trainer: dpo`` pairs desirable with undesirable answers instead (K per
question, CodeLutra's rule). The task's own tests are only used by the evaluation.
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
    by_task,
    completion_row,
    is_degenerate,
    pair_task,
    preference_row,
    rows_dataset,
)
from ..prompts import messages_for
from .base import Method, Rows
from .testgen import (
    GENERATION_PARAMS,
    ask,
    assert_lines,
    generate,
    programs_of,
    run_matrix,
    solution_block,
    test_generator_param,
)
from .trainers import DPO, KTO, Trainer

PROMPT = (
    "{question}\n\nFirst analyse the problem in two or three sentences. Then write a reference solution defining "
    "`{entry_point}` in a ```python block. Then write five assert statements, one per line, in a second ```python "
    "block: they must run after any student's solution that defines `{entry_point}`, and pass only if it is right."
)


@dataclass(frozen=True)
class Plum(Method):
    """PLUM: the model writes a reference solution and asserts per question; samples passing every assert its
    reference passes are desirable, the others undesirable, and KTO learns from the unpaired labels."""

    name = "plum"
    kinds = ("python",)
    pair_reads = GENERATION_PARAMS
    trainer: Literal["kto", "dpo"] = param(
        "kto",
        "kto: unpaired desirable / undesirable rows (the paper's); dpo: pairs by CodeLutra's rule.",
        shapes=(PAIR, TRAIN),
    )
    negatives: Literal["runnable", "all"] = param(
        "runnable",
        "Failed samples that become undesirable rows: those that run (no syntax error), or all.",
        shapes=(PAIR,),
    )
    test_generator: str | None = test_generator_param()

    @property
    def pairs_with_policy(self) -> bool:
        return self.test_generator is None

    pairs_per_task: int | None = param(
        None, "trainer dpo: pairs per question; null: K (num_samples).", gt=0, shapes=(PAIR,)
    )

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        groups = by_task(verdicts)
        asked = [tasks[tid] for tid in groups]
        answers = generate(
            [ask(PROMPT, t) for t in asked], cfg, policy, self.test_generator, n=1, desc="plum: writing tests"
        )
        written = [(task, solution_block(texts[0]), assert_lines(texts[0])) for task, texts in zip(asked, answers)]
        checks = run_matrix([(task, [solution], tests) for task, solution, tests in written], cfg)
        kept = {
            task.task_id: [t for t, c in zip(tests, cats[0]) if c == "correct"]
            for (task, _, tests), cats in zip(written, checks)
        }
        extras = [
            {"task_id": task.task_id, "solution": solution, "tests": tests, "kept": kept[task.task_id]}
            for task, solution, tests in written
        ]
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
            "generated_tests": sum(len(t) for _, _, t in written),
            "kept_tests": sum(len(k) for k in kept.values()),
            "tasks_with_tests": len(labelled),
            "tasks_with_correct": 0,
            "degenerate": 0,
            "desirable": 0,
            "undesirable": 0,
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
                elif self.negatives == "all" or "syntax_error" not in cats:
                    bad.setdefault(answer, Candidate(answer, next(c for c in cats if c != "correct")))
            if not good:
                continue
            stats["tasks_with_correct"] += 1
            stats["desirable"] += len(good)
            stats["undesirable"] += len(bad)
            prompt, t = messages_for(task, cfg.tasks), cfg.run.iteration
            if use_dpo:
                k = self.pairs_per_task or cfg.sampling.num_samples
                pairs = pair_task(list(good.values()), list(bad.values()), k, rng)
                rows += [preference_row(prompt, c.answer, r.answer, tid, t) for c, r in pairs]
            else:
                rows += [completion_row(prompt, a, tid, t, label=True) for a in good]
                rows += [completion_row(prompt, a, tid, t, label=False) for a in bad]
        stats["rows"] = len(rows)
        columns = PREFERENCE_COLUMNS if use_dpo else COMPLETION_COLUMNS + ("label",)
        return Rows(rows_dataset(rows, columns), stats, {GENERATED_TESTS: extras})

    def make_trainer(self) -> Trainer:
        return DPO(sft_weight=0.0) if self.trainer == "dpo" else KTO()

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no training rows under plum: no question kept a generated test that its "
            "generated solution passes, or none had a sample passing them all. Try a stronger test_generator, "
            "more samples (num_samples, temperature), or another method."
        )
