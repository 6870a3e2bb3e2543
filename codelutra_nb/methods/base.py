"""The interface of a training method: what turns verdicts into training rows, and which trainer learns from them.

Stages 3 and 4 call only this interface; `codelutra_nb.training` does the part every
method shares (model, adapter, reference, checkpoints, saving) and `methods.trainers`
holds the TRL trainers a method can pick.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..errors import ConfigError
from ..layout import PAIRING_STATS

if TYPE_CHECKING:
    from datasets import Dataset

    from ..config import LoopConfig
    from ..kinds import Task
    from .trainers import Trainer


@dataclass
class Rows:
    """A method's training rows for one iteration, what its rule did (counts), and files to keep beside the rows."""

    dataset: Dataset
    stats: dict
    extras: dict[str, list[dict]] = field(default_factory=dict)
    """File name (from `codelutra_nb.layout`) -> JSON records, written inside the ``preferences`` artifact."""


class Method(ABC):
    """One training method; one subclass per module, registered in `methods.METHODS`."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...] | None] = None
    """Task kinds the method can run on; None: any."""
    needs_gold: ClassVar[bool] = False
    """True when every training task must have a reference solution."""
    uses_samples: ClassVar[bool] = True
    """False when the rows come from the tasks alone, so stage 1 samples nothing."""
    trainers: ClassVar[tuple[str, ...]] = ()
    """Values of the ``trainer`` parameter the method accepts besides null (its own trainer)."""

    def check(self, cfg: LoopConfig, tasks: Sequence[Task]) -> None:
        """`ConfigError` before any sampling when the method cannot run on these tasks, saying why."""
        if self.kinds is not None and cfg.tasks.task_kind not in self.kinds:
            raise ConfigError(
                f"method {self.name!r} runs on {' or '.join(self.kinds)} tasks only, and task_kind is "
                f"{cfg.tasks.task_kind!r}; pick another method (`python -m codelutra_nb params` lists "
                "them) or other tasks."
            )
        if cfg.training.trainer is not None and cfg.training.trainer not in self.trainers:
            accepted = f"one of {list(self.trainers)} or null" if self.trainers else "null"
            raise ConfigError(
                f"method {self.name!r} does not take trainer: {cfg.training.trainer}; it must be "
                f"{accepted} (trainer picks DPO or KTO for plum and dstc)."
            )
        missing = [t.task_id for t in tasks if not t.reference] if self.needs_gold else []
        if missing:
            raise ConfigError(
                f"method {self.name!r} trains on gold solutions, but {len(missing)} training tasks have "
                f"none (e.g. {missing[:3]}); use a method that needs no gold (codelutra with "
                "no_correct: skip, executability, sft_self) or tasks with references."
            )

    @abstractmethod
    def build_rows(
        self, tasks: Mapping[str, Task], verdicts: Sequence[dict], cfg: LoopConfig, policy: Path | None
    ) -> Rows:
        """Iteration ``cfg.run.iteration``'s training rows from its verified samples; ``policy`` is M(t-1)'s adapter
        (None: the base model), for methods that ask the model for more (tests)."""

    @abstractmethod
    def trainer(self, cfg: LoopConfig) -> Trainer:
        """The trainer that learns from the rows."""

    def empty_message(self, iteration: int) -> str:
        """Why an iteration can have no training rows under this method, and what to change."""
        return (
            f"Iteration {iteration} has no training rows under method {self.name!r}: see {PAIRING_STATS} in "
            "its preferences for what was dropped; sample more (num_samples, temperature) or pick another "
            "method."
        )
