"""CodeLutra: gold-checked preference pairs, trained with L = L_DPO + lambda * L_SFT(chosen).

Pairs come from `codelutra_nb.pairing` (K pairs per question, correct vs failed, the gold
solution as chosen when no sample is correct and ``no_correct: gold``). `PairMethod` is the
pairing rule the ablations built on it share (dpo_only, executability).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from ..config import PAIR, TRAIN, LoopConfig, param
from ..kinds import Task
from ..pairing import build_preferences
from .base import Method, Rows
from .trainers import DPO, Trainer


def no_correct_param() -> Any:
    """The ``no_correct`` parameter of the methods that can fall back to the gold solution."""
    return param(
        "gold",
        "Questions with no correct sample: skip them, or use the gold solution as the chosen answer.",
        shapes=(PAIR,),
    )


def sft_weight_param() -> Any:
    """The ``sft_weight`` parameter (lambda) of the methods trained with DPO plus SFT."""
    return param(1.0, "Lambda: weight of the SFT loss on the chosen answer.", ge=0, shapes=(TRAIN,))


@dataclass(frozen=True)
class PairMethod(Method):
    """K (chosen, rejected) pairs per question by CodeLutra's rule."""

    chosen: ClassVar[tuple[str, ...]] = ("correct",)
    """Categories of the chosen side."""
    pairs_per_task: int | None = param(None, "Pairs per question; null: K (num_samples).", gt=0, shapes=(PAIR,))

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        t = cfg.run.iteration
        dataset, stats = build_preferences(
            tasks,
            verdicts,
            k=self.pairs_per_task or cfg.sampling.num_samples,
            no_correct=self.gold_fallback(),
            iteration=t,
            seed=cfg.run.seed + t,
            template=cfg.tasks.prompt_template,
            system_prompt=cfg.tasks.system_prompt,
            chosen=self.chosen,
        )
        return Rows(dataset, stats)

    def gold_fallback(self) -> str:
        """What a question with no chosen sample gets: ``skip`` it, or its ``gold`` solution as chosen."""
        return "skip"


@dataclass(frozen=True)
class CodeLutra(PairMethod):
    """CodeLutra: K pairs per question (correct vs failed samples; the gold solution as chosen when none is correct
    and no_correct is gold), trained with L = L_DPO + lambda * L_SFT(chosen)."""

    name = "codelutra"
    no_correct: Literal["skip", "gold"] = no_correct_param()
    sft_weight: float = sft_weight_param()

    def gold_fallback(self) -> str:
        return self.no_correct

    def make_trainer(self) -> Trainer:
        return DPO(sft_weight=self.sft_weight)

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no preference pairs: no question had both a correct and a failed sample. "
            "Set no_correct: gold (use the gold solution as chosen), or sample more (num_samples, temperature)."
        )
