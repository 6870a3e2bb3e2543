"""The TRL trainers a method can train with: which rows each reads, its config, and the numbers worth keeping.

`DPO` is the dual loss L = L_DPO + lambda * L_SFT(chosen) (``loss_type=["sigmoid", "sft"]``), or DPO alone when
lambda is 0; `KTO` learns from unpaired desirable / undesirable answers, weighted by the class balance; `SFT`
learns the answers alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from datasets import Dataset

    from ..config import TrainParams


class Trainer(ABC):
    """One TRL trainer, as the shared training loop (`codelutra_nb.training`) and the notebooks use it."""

    columns: ClassVar[tuple[str, ...]]
    """Columns of the training rows it reads (the rest of a dataset is metadata)."""

    pairs: ClassVar[bool] = False
    """Its batches are [prompt + chosen; prompt + rejected] rows, whose prompts `codelutra_nb.prompt_sharing` can
    run once."""

    curves: ClassVar[tuple[str, ...]] = ("loss",)
    """Columns of its log history worth plotting over the steps (each named in `CURVE_NAMES`)."""

    rows_name: ClassVar[str]
    """What its training rows are called in reports (``12 pairs``)."""

    ignores: ClassVar[tuple[str, ...]] = ()
    """Training parameters its result does not depend on (not recorded with the adapter it trains)."""

    @abstractmethod
    def trainer_class(self) -> type:
        """The TRL trainer class (imported lazily: TRL is slow to import)."""

    @abstractmethod
    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset) -> Any:
        """Its config: ``common`` (optimiser, checkpoints, Hub pushing) plus its own settings."""

    def summarize(self, log_history: Sequence[dict]) -> dict:
        """Steps, first and last loss, and the first and last value of each of its other `curves` it logged
        (``first_reward_margin``, ``last_token_accuracy`` ...)."""
        steps = [h for h in log_history if "loss" in h and "grad_norm" in h]
        first, last = (steps[0], steps[-1]) if steps else ({}, {})
        summary = {"steps": len(steps), "first_loss": first.get("loss"), "last_loss": last.get("loss")}
        for curve in self.curves[1:]:
            if any(curve in h for h in steps):
                key = CURVE_NAMES[curve].replace(" ", "_").lower()
                summary |= {f"first_{key}": first.get(curve), f"last_{key}": last.get(curve)}
        return summary

    def line(self, iteration: int, summary: Mapping[str, Any]) -> str:
        """``M(t) after N steps: loss a → b, reward margin c → d, ...``: a summary in one line."""
        if not summary["steps"]:
            return f"M({iteration}) trained, no logged steps"
        parts = [f"loss {summary['first_loss']:.3g} → {summary['last_loss']:.3g}"]
        for curve in self.curves[1:]:
            key = CURVE_NAMES[curve].replace(" ", "_").lower()
            first, last = summary.get(f"first_{key}"), summary.get(f"last_{key}")
            if first is not None and last is not None:
                parts.append(f"{CURVE_NAMES[curve]} {first:.3g} → {last:.3g}")
        return f"M({iteration}) after {summary['steps']} steps: " + ", ".join(parts)

    def plot(self, log_history: Sequence[dict]):
        """Its `curves` over the training steps, one panel each (those it logged)."""
        import pandas as pd

        log = pd.DataFrame([h for h in log_history if "loss" in h and "grad_norm" in h])
        curves = [c for c in self.curves if c in log.columns]
        if log.empty or not curves:
            return None
        return log.plot(x="step", y=curves, subplots=True, figsize=(8, 1.8 * len(curves)), marker=".")

    def preview(self, rows: Dataset):
        """The rows as a table: the end of the question, then its answer columns (shortened)."""
        import pandas as pd

        table = {"question": [prompt[-1]["content"][-120:] for prompt in rows["prompt"]]}
        for column in self.columns[1:]:
            table[column] = [_shown(value) for value in rows[column]]
        return pd.DataFrame(table)


CURVE_NAMES = {
    "loss": "loss",
    "rewards/margins": "reward margin",
    "rewards/accuracies": "reward accuracy",
    "kl": "KL",
    "mean_token_accuracy": "token accuracy",
}
"""A logged curve -> its name in summaries and one-line reports."""


def _shown(value: Any) -> Any:
    """An answer column's value as a table cell: a conversation's text, cut at 300 characters; labels as they are."""
    if isinstance(value, list):
        value = "\n".join(turn["content"] for turn in value)
    return value[:300] if isinstance(value, str) else value


class DPO(Trainer):
    """Preference pairs; with ``sft_weight`` > 0 the SFT loss on the chosen answer is added (CodeLutra's dual loss)."""

    columns = ("prompt", "chosen", "rejected")
    pairs = True
    curves = ("loss", "rewards/margins", "rewards/accuracies")
    rows_name = "pairs"

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
    curves = ("loss", "rewards/margins", "kl")
    rows_name = "labelled answers"

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
    """Prompt / completion rows; the loss is on the completion only. ``one_epoch``: each row once, whatever
    ``epochs`` says (sft_gold: each gold once per iteration)."""

    columns = ("prompt", "completion")
    curves = ("loss", "mean_token_accuracy")
    rows_name = "answers"

    def __init__(self, one_epoch: bool = False):
        self.one_epoch = one_epoch
        self.ignores = ("beta", "reference", *(("epochs",) if one_epoch else ()))

    def trainer_class(self) -> type:
        from trl import SFTTrainer

        return SFTTrainer

    def config(self, training: TrainParams, common: dict[str, Any], rows: Dataset):
        from trl import SFTConfig

        if self.one_epoch:
            common = common | {"num_train_epochs": 1}
        return SFTConfig(max_length=training.max_length, **common)
