"""CodeLutra without gold answers (the paper's section 6): a sample that executes is chosen, one that does not is
rejected.

"Executes" is the verdict's category: ``correct`` or ``wrong_answer`` (for SQL: the query ran on the database;
for Python: the program and its tests ran to an answer) against ``syntax_error``, ``runtime_error`` and
``timeout``. Pairs follow CodeLutra's rule; no gold solution is ever used as chosen. Evaluation still uses gold.
"""

from __future__ import annotations

from ..config import LoopConfig
from .codelutra import CodeLutra


class Executability(CodeLutra):
    name = "executability"
    chosen = ("correct", "wrong_answer")

    def no_correct(self, cfg: LoopConfig) -> str:
        return "skip"

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no pairs: no question had both a sample that executes and one that does "
            "not. Sample more (num_samples, temperature) or use method codelutra."
        )
