"""CodeLutra: gold-checked preference pairs, trained with L = L_DPO + lambda * L_SFT(chosen).

Pairs come from `codelutra_nb.pairing` (K pairs per question, correct vs failed, the gold
solution as chosen when no sample is correct and ``no_correct: gold``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import LoopConfig
from ..kinds import Task
from ..pairing import build_preferences
from .base import Method, Rows
from .trainers import DPO, Trainer


class CodeLutra(Method):
    name = "codelutra"
    chosen: tuple[str, ...] = ("correct",)

    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        t = cfg.run.iteration
        dataset, stats = build_preferences(
            tasks,
            verdicts,
            k=cfg.pairing.pairs_per_task or cfg.sampling.num_samples,
            no_correct=self.no_correct(cfg),
            iteration=t,
            seed=cfg.run.seed + t,
            template=cfg.tasks.prompt_template,
            system_prompt=cfg.tasks.system_prompt,
            chosen=self.chosen,
        )
        return Rows(dataset, stats)

    def no_correct(self, cfg: LoopConfig) -> str:
        return cfg.pairing.no_correct

    def trainer(self, cfg: LoopConfig) -> Trainer:
        return DPO(sft_weight=cfg.training.sft_weight)

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no preference pairs: no question had both a correct and a failed sample. "
            "Set no_correct: gold (use the gold solution as chosen), or sample more (num_samples, temperature)."
        )
