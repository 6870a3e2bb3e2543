"""The interface of a training method: what turns verdicts into training rows, and which TRL trainer learns from them.

Stages 3 and 4 call only this interface; `codelutra_nb.training` does the part every
method shares (model, adapter, reference, checkpoints, saving).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from datasets import Dataset

    from ..config import LoopConfig, TrainParams
    from ..kinds import Task


class Method(ABC):
    """One training method; one subclass per module, registered in `methods.METHODS`."""

    name: ClassVar[str]
    train_columns: ClassVar[tuple[str, ...]]
    """Columns of the training rows the trainer reads (the rest is metadata kept in the dataset)."""

    @abstractmethod
    def build_rows(self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig) -> tuple[Dataset, dict]:
        """Iteration ``cfg.run.iteration``'s training rows from its verified samples, and statistics of the rule."""

    @abstractmethod
    def empty_message(self, iteration: int) -> str:
        """Why an iteration can have no training rows under this method, and what to change."""

    @abstractmethod
    def trainer_class(self) -> type:
        """The TRL trainer class (imported lazily: TRL is slow to import)."""

    @abstractmethod
    def trainer_config(self, training: TrainParams, common: dict[str, Any]) -> Any:
        """The trainer's config: ``common`` (optimiser, checkpoints, Hub pushing) plus this method's own settings."""

    @abstractmethod
    def summarize_log(self, log_history: Sequence[dict]) -> dict:
        """The numbers of a training run worth a line in the metrics (first/last loss, reward margins ...)."""
