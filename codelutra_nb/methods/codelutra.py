"""CodeLutra: gold-checked preference pairs, trained with L = L_DPO + lambda * L_SFT(chosen).

Pairs come from `codelutra_nb.pairing` (K pairs per question, correct vs failed).
TRL's DPOTrainer does the training: ``loss_type=["sigmoid", "sft"]`` with
``loss_weights=[1, lambda]`` is the dual loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import LoopConfig, TrainParams
from ..kinds import Task
from ..pairing import build_preferences
from .base import Method


class CodeLutra(Method):
    name = "codelutra"
    train_columns = ("prompt", "chosen", "rejected")

    def build_rows(self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig):
        t = cfg.run.iteration
        return build_preferences(
            tasks,
            verdicts,
            k=cfg.pairing.pairs_per_task or cfg.sampling.num_samples,
            no_correct=cfg.pairing.no_correct,
            iteration=t,
            seed=cfg.run.seed + t,
            template=cfg.tasks.prompt_template,
            system_prompt=cfg.tasks.system_prompt,
        )

    def empty_message(self, iteration: int) -> str:
        return (
            f"Iteration {iteration} has no preference pairs: no question had both a correct and a failed sample. "
            "Set no_correct: gold (use the gold solution as chosen), or sample more (num_samples, temperature)."
        )

    def trainer_class(self) -> type:
        from trl import DPOTrainer

        return DPOTrainer

    def trainer_config(self, training: TrainParams, common: dict[str, Any]):
        from trl import DPOConfig

        return DPOConfig(
            loss_type=["sigmoid", "sft"],
            loss_weights=[1.0, training.sft_weight],
            beta=training.beta,
            max_length=training.max_length,
            precompute_ref_log_probs=training.precompute_ref,
            **common,
        )

    def summarize_log(self, log_history: Sequence[dict]) -> dict:
        steps = [h for h in log_history if "loss" in h and "rewards/margins" in h]
        first, last = (steps[0], steps[-1]) if steps else ({}, {})
        return {
            "steps": len(steps),
            "first_loss": first.get("loss"),
            "last_loss": last.get("loss"),
            "first_margin": first.get("rewards/margins"),
            "last_margin": last.get("rewards/margins"),
            "last_reward_accuracy": last.get("rewards/accuracies"),
        }
