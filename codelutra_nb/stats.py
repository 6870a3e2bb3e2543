"""How much a difference in held-out accuracy means: Wilson intervals and McNemar's paired test.

On 40 or 101 held-out questions one question moves accuracy by 1-2.5 points, about the size of the differences
between methods, so every accuracy comes with an interval (`wilson_interval`) and every difference between two
models with a paired test on the questions both answered (`mcnemar`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from .errors import TaskDataError

NOISE_LEVEL = 0.05
"""A difference whose paired p-value is at or above this is within noise."""


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``k`` of ``n``; (0, 1) when ``n`` is 0 (nothing is known).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 of n or n of n.
    """
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}.")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (0.0 if k == 0 else center - half), (1.0 if k == n else center + half)  # exact ends, no rounding dust


@dataclass(frozen=True)
class PairedTest:
    """Two models' answers to the same questions: the four counts and McNemar's exact p-value."""

    both_right: int
    only_a: int
    """Questions A answered right and B wrong."""
    only_b: int
    both_wrong: int
    p_value: float
    """Two-sided: how likely discordant counts at least this uneven are when A and B are equally good."""

    @property
    def n(self) -> int:
        return self.both_right + self.only_a + self.only_b + self.both_wrong

    @property
    def accuracy_a(self) -> float:
        return (self.both_right + self.only_a) / self.n

    @property
    def accuracy_b(self) -> float:
        return (self.both_right + self.only_b) / self.n

    @property
    def difference(self) -> float:
        """accuracy_b - accuracy_a: positive when B answers more questions right."""
        return (self.only_b - self.only_a) / self.n

    @property
    def within_noise(self) -> bool:
        """The difference could be chance: p-value at or above `NOISE_LEVEL`."""
        return self.p_value >= NOISE_LEVEL


def outcomes(records: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Question id -> answered right, from judged answers (the records of an ``eval.jsonl``)."""
    return {str(r["task_id"]): r["category"] == "correct" for r in records}


def mcnemar(a: Mapping[str, bool], b: Mapping[str, bool], names: tuple[str, str] = ("A", "B")) -> PairedTest:
    """McNemar's test of two models' outcomes (question id -> answered right) on the same questions.

    Questions both models got right or both got wrong say nothing about which is better; under "equally good" each
    of the m discordant questions is A's or B's with probability 1/2, so the p-value is the exact two-sided binomial
    tail of the discordant counts. Exact rather than the chi-square approximation because held-out sets of 40-100
    questions leave few discordant pairs (often under 25), where the approximation is off.

    Raises `TaskDataError` naming ``names`` and the ids when the two did not answer the same questions.
    """
    if a.keys() != b.keys():
        raise TaskDataError(
            f"{names[0]} and {names[1]} did not answer the same held-out questions ({len(a)} and {len(b)}): "
            f"only {names[0]} answered {_ids(a.keys() - b.keys())}; only {names[1]} answered "
            f"{_ids(b.keys() - a.keys())}. A paired test needs the same questions: evaluate both with the same "
            "eval_tasks and eval_limit."
        )
    if not a:
        raise TaskDataError(f"{names[0]} and {names[1]} answered no questions: there is nothing to compare.")
    both_right = sum(a[q] and b[q] for q in a)
    only_a = sum(a[q] and not b[q] for q in a)
    only_b = sum(b[q] and not a[q] for q in a)
    m = only_a + only_b
    tail = sum(math.comb(m, i) for i in range(min(only_a, only_b) + 1)) / 2**m
    return PairedTest(both_right, only_a, only_b, len(a) - both_right - m, min(1.0, 2 * tail))


def _ids(ids: set[str], shown: int = 5) -> str:
    """Up to ``shown`` of ``ids``, sorted, and how many more; "none" when empty."""
    if not ids:
        return "none"
    listed = ", ".join(repr(q) for q in sorted(ids)[:shown])
    return listed + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
