"""The TRL trainers a method can train with: which rows each reads, its config, and the numbers worth keeping.

`DPO` is the dual loss L = L_DPO + lambda * L_SFT(chosen) (``loss_type=["sigmoid", "sft"]``), or DPO alone when
lambda is 0; `KTO` learns from unpaired desirable / undesirable answers, weighted by the class balance; `SFT`
learns the answers alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from datasets import Dataset

    from ..config import TrainParams


class Trainer(ABC):
    """One TRL trainer, as the shared training loop (`codelutra_nb.training`) uses it."""

    columns: ClassVar[tuple[str, ...]]
    """Columns of the training rows it reads (the rest of a dataset is metadata)."""

    pairs: ClassVar[bool] = False
    """Its batches are [prompt + chosen; prompt + rejected] rows, whose prompts `codelutra_nb.prompt_sharing` can
    run once."""

    @abstractmethod
    def trainer_class(self) -> type:
        """The TRL trainer class (imported lazily: TRL is slow to import)."""

    @abstractmethod
    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset) -> Any:
        """Its config: ``common`` (optimiser, checkpoints, Hub pushing) plus its own settings."""

    def summarize(self, log_history: Sequence[dict]) -> dict:
        """Steps, first and last loss, and the reward margins where the trainer logs them."""
        steps = [h for h in log_history if "loss" in h and "grad_norm" in h]
        first, last = (steps[0], steps[-1]) if steps else ({}, {})
        summary = {"steps": len(steps), "first_loss": first.get("loss"), "last_loss": last.get("loss")}
        if any("rewards/margins" in h for h in steps):
            summary |= {
                "first_margin": first.get("rewards/margins"),
                "last_margin": last.get("rewards/margins"),
                "last_reward_accuracy": last.get("rewards/accuracies"),
            }
        return summary


class DPO(Trainer):
    """Preference pairs; with ``sft_weight`` > 0 the SFT loss on the chosen answer is added (CodeLutra's dual loss)."""

    columns = ("prompt", "chosen", "rejected")
    pairs = True

    def __init__(self, sft_weight: float):
        self.sft_weight = sft_weight

    def trainer_class(self) -> type:
        from trl import DPOTrainer

        return DPOTrainer

    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset):
        from trl import DPOConfig

        losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, self.sft_weight]}
        if self.sft_weight == 0:
            losses = {"loss_type": ["sigmoid"], "loss_weights": [1.0]}
        return DPOConfig(
            **losses,
            beta=training.beta,
            max_length=training.max_length,
            precompute_ref_log_probs=training.precompute_ref,
            **common,
        )


class KTO(Trainer):
    """Unpaired answers labelled desirable or not; the desirable ones weighted so both classes count alike
    (TRL recommends desirable_weight x positives / (undesirable_weight x negatives) in [1, 4/3])."""

    columns = ("prompt", "completion", "label")

    def trainer_class(self) -> type:
        from trl import KTOTrainer

        return KTOTrainer

    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset):
        from trl import KTOConfig

        positives = sum(rows["label"])
        negatives = len(rows) - positives
        weight = negatives / positives if positives and negatives else 1.0
        return KTOConfig(
            beta=training.beta,
            max_length=training.max_length,
            desirable_weight=weight,
            undesirable_weight=1.0,
            precompute_ref_log_probs=training.precompute_ref,
            **common,
        )


class SFT(Trainer):
    """Prompt / completion rows; the loss is on the completion only."""

    columns = ("prompt", "completion")

    def trainer_class(self) -> type:
        from trl import SFTTrainer

        return SFTTrainer

    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset):
        from trl import SFTConfig

        return SFTConfig(max_length=training.max_length, **common)
