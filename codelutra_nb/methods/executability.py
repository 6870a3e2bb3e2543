"""CodeLutra without gold answers (the paper's section 6): a sample that executes is chosen, one that does not is
rejected.

"Executes" is the verdict's category: ``correct`` or ``wrong_answer`` (for SQL: the query ran on the database;
for Python: the program and its tests ran to an answer) against ``syntax_error``, ``runtime_error`` and
``timeout``. Pairs follow CodeLutra's rule; no gold solution is ever used as chosen. Evaluation still uses gold.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codelutra import PairMethod, sft_weight_param
from .trainers import DPO, Trainer


@dataclass(frozen=True)
class Executability(PairMethod):
    """K pairs per question, chosen = a sample that executes, rejected = one that does not (no gold ever), trained
    with DPO plus lambda times SFT."""

    name = "executability"
    chosen = ("correct", "wrong_answer")
    sft_weight: float = sft_weight_param()

    def make_trainer(self) -> Trainer:
        return DPO(sft_weight=self.sft_weight)

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no pairs: no question had both a sample that executes and one that does "
            "not. Sample more (num_samples, temperature) or use method codelutra."
        )
