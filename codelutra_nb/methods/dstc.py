"""DSTC: the model writes K programs and tests per instruction; minimax selection over the matrix of which program
passes which test picks a chosen (program, test) and a rejected one, trained as code + test concatenations.

The K programs are the iteration's samples. The tests come from K answers of the generator (the policy M(t-1), or
``test_generator``), each holding code and its tests in one response as in the paper, with the function's name in
the prompt: every distinct assert of every answer is a test of its own. The instruction's own tests are never used
for training (only by the evaluation). DPO (the default) keeps questions with both sides feasible; ``trainer: kto``
keeps the feasible sides of questions whose chosen side is feasible (a question with no chosen side gives no row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import PAIR, TRAIN, LoopConfig, param
from ..kinds import Task, TaskKind, get_kind
from ..layout import GENERATED_TESTS
from ..pairing import COMPLETION_COLUMNS, PREFERENCE_COLUMNS, by_task, completion_row, preference_row, rows_dataset
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
)
from .trainers import DPO, KTO, Trainer

PROMPT = (
    "{question}\n\nWrite a solution defining `{entry_point}` in a ```python block, then, in a second ```python "
    "block, several assert statements, one per line, that test it: each calls `{entry_point}` with concrete "
    "arguments and compares with the expected result."
)
RESPONSE = "{code}\n\n```python\n{test}\n```"
"""A training response: the program as the kind trains it, then the test."""


def minimax_select(passes: Sequence[Sequence[bool]]) -> tuple[int | None, int | None, int | None, int | None]:
    """``(c_plus, t_plus, c_minus, t_minus)`` from ``passes[i][j]`` (program i passes test j); ties go to the lowest
    index, an infeasible choice is None.

    - c+ = argmax_i sum_j passes[i][j]
    - t+ = argmin_j sum_i passes[i][j] subject to passes[c+][j]
    - t- = argmax_j sum_i passes[i][j] subject to sum_i passes[i][j] < number of programs
    - c- = argmin_i sum_j passes[i][j] subject to not passes[i][t-]
    """
    n = len(passes)
    m = len(passes[0]) if n else 0
    if n == 0 or m == 0:
        return None, None, None, None
    rows = [sum(map(bool, row)) for row in passes]
    cols = [sum(bool(passes[i][j]) for i in range(n)) for j in range(m)]
    c_plus = max(range(n), key=lambda i: (rows[i], -i))
    t_plus = min((j for j in range(m) if passes[c_plus][j]), key=lambda j: (cols[j], j), default=None)
    t_minus = max((j for j in range(m) if cols[j] < n), key=lambda j: (cols[j], -j), default=None)
    c_minus = None
    if t_minus is not None:
        c_minus = min((i for i in range(n) if not passes[i][t_minus]), key=lambda i: (rows[i], i), default=None)
    return c_plus, t_plus, c_minus, t_minus


def _response(
    kind: TaskKind, completions: Sequence[str], tests: Sequence[str], i: int | None, j: int | None
) -> str | None:
    """Program i followed by test j, as trained; None when either is infeasible."""
    if i is None or j is None:
        return None
    return RESPONSE.format(code=kind.answer_text(completions[i]), test=tests[j])


@dataclass(frozen=True)
class Dstc(WritesTests):
    """DSTC: K programs and the tests of K model-written code + tests answers per question; minimax selection over
    which program passes which test gives a chosen and a rejected (program, test), trained as program + test."""

    name = "dstc"
    kinds = ("python",)
    pair_reads = GENERATION_PARAMS
    trainer: Literal["dpo", "kto"] = param(
        "dpo",
        "dpo: the chosen against the rejected (program, test) (the paper's); kto: each feasible side unpaired, "
        "questions with no feasible chosen side dropped.",
        shapes=(PAIR, TRAIN),
    )

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        groups = by_task(verdicts)
        asked = [tasks[tid] for tid in groups]
        k = cfg.sampling.num_samples
        answers = generate(
            [ask(PROMPT, t) for t in asked],
            cfg,
            policy,
            self.test_generator,
            n=k,
            desc="dstc: writing code and tests",
            temperature=self.test_temperature,
            max_new_tokens=self.test_max_new_tokens,
        )
        tests = {t.task_id: assert_lines(*texts) for t, texts in zip(asked, answers)}
        completions = {tid: [r["completion"] for r in records] for tid, records in groups.items()}
        matrices = run_matrix(
            [(tasks[tid], programs_of(tasks[tid], completions[tid]), tests[tid]) for tid in groups], cfg
        )
        use_kto = self.trainer == "kto"
        rows: list[dict] = []
        extras: list[dict] = []
        stats = {
            "tasks": len(groups),
            "generated_tests": sum(len(t) for t in tests.values()),
            "chosen_feasible": 0,
            "rejected_feasible": 0,
            "both_feasible": 0,
            "dropped_no_chosen": 0,
        }
        for tid, categories in zip(groups, matrices):
            task, kind = tasks[tid], get_kind(tasks[tid].kind)
            passes = [[c == "correct" for c in row] for row in categories]
            c_plus, t_plus, c_minus, t_minus = minimax_select(passes)
            extras.append(
                {"task_id": tid, "tests": tests[tid], "passes": passes, "selected": [c_plus, t_plus, c_minus, t_minus]}
            )

            chosen = _response(kind, completions[tid], tests[tid], c_plus, t_plus)
            rejected = _response(kind, completions[tid], tests[tid], c_minus, t_minus)
            stats["chosen_feasible"] += chosen is not None
            stats["rejected_feasible"] += rejected is not None
            stats["both_feasible"] += chosen is not None and rejected is not None
            prompt, t = messages_for(task, cfg.tasks), cfg.run.iteration
            if use_kto and chosen is None:
                stats["dropped_no_chosen"] += 1  # its rejected side alone would teach only what not to write
            elif use_kto:
                labelled = ((chosen, True), (rejected, False))
                rows += [completion_row(prompt, answer, tid, t, label=label) for answer, label in labelled if answer]
            elif chosen and rejected:
                rows.append(preference_row(prompt, chosen, rejected, tid, t))
        stats["rows"] = len(rows)
        columns = COMPLETION_COLUMNS + ("label",) if use_kto else PREFERENCE_COLUMNS
        return Rows(rows_dataset(rows, columns), stats, {GENERATED_TESTS: extras})

    def make_trainer(self) -> Trainer:
        return KTO() if self.trainer == "kto" else DPO(sft_weight=0.0)

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no training rows under dstc: minimax selection found no question with "
            "both a feasible chosen and a feasible rejected (program, test). Try a stronger test_generator, more "
            "samples (num_samples, temperature), trainer: kto, or another method."
        )
