"""Ablation: CodeLutra's pairs trained with DPO alone (lambda = 0: no SFT term on the chosen answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .codelutra import PairMethod, no_correct_param
from .trainers import DPO, Trainer


@dataclass(frozen=True)
class DpoOnly(PairMethod):
    """CodeLutra's pairs trained with DPO alone (lambda = 0)."""

    name = "dpo_only"
    no_correct: Literal["skip", "gold"] = no_correct_param()

    def gold_fallback(self) -> str:
        return self.no_correct

    def make_trainer(self) -> Trainer:
        return DPO(sft_weight=0.0)
