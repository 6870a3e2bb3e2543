"""Ablation: CodeLutra's pairs trained with DPO alone (lambda = 0: no SFT term on the chosen answer)."""

from __future__ import annotations

from ..config import LoopConfig
from .codelutra import CodeLutra
from .trainers import DPO, Trainer


class DpoOnly(CodeLutra):
    name = "dpo_only"

    def trainer(self, cfg: LoopConfig) -> Trainer:
        return DPO(sft_weight=0.0)
