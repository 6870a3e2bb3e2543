"""The interface of a training method: its own parameters, what turns verdicts into training rows, which trainer
learns from them, and how its rows and training log are shown.

A method is a frozen dataclass whose fields are its own parameters (TRL's one config per trainer, here one section
per method): `LoopConfig.method` is the chosen method, built once when the config is loaded, so the stages, the
chain and the notebooks call ``cfg.method`` and never look a method up by name. Stages 3 and 4 call only this
interface; `codelutra_nb.training` does the part every method shares (model, adapter, reference, checkpoints,
saving) and `methods.trainers` holds the TRL trainers a method can pick.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..config import Section
from ..errors import ConfigError
from ..layout import PAIRING_STATS

if TYPE_CHECKING:
    import pandas as pd
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


@dataclass(frozen=True)
class Method(Section, ABC):
    """One training method; one subclass per module, registered in `methods.METHODS`. Its dataclass fields are its
    own parameters (declared with `codelutra_nb.config.param`, help and the stages they shape included)."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...] | None] = None
    """Task kinds the method can run on; None: any."""
    needs_gold: ClassVar[bool] = False
    """True when every training task must have a reference solution."""
    uses_samples: ClassVar[bool] = True
    """False when the rows come from the tasks alone, so stage 1 samples nothing."""
    pair_reads: ClassVar[tuple[str, ...]] = ()
    """Shared parameters its rows depend on besides the pair stage's own (plum, dstc: how tests are written and run);
    recorded with its rows (`codelutra_nb.provenance`)."""

    @property
    def pairs_with_policy(self) -> bool:
        """True when `build_rows` generates with the policy M(t-1) (plum and dstc writing tests with it), so the pair
        stage can take the sampling engine the sample stage leaves running (`sampling.keep_engine`)."""
        return False

    def check(self, cfg: LoopConfig, tasks: Sequence[Task]) -> None:
        """`ConfigError` before any sampling when the method cannot run on these tasks, saying why."""
        if self.kinds is not None and cfg.tasks.task_kind not in self.kinds:
            raise ConfigError(
                f"method {self.name!r} runs on {' or '.join(self.kinds)} tasks only, and task_kind is "
                f"{cfg.tasks.task_kind!r}; pick another method (`python -m codelutra_nb params` lists "
                "them) or other tasks."
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
    def make_trainer(self) -> Trainer:
        """The trainer that learns from the rows."""

    def empty_message(self, iteration: int) -> str:
        """Why an iteration can have no training rows under this method, and what to change."""
        return (
            f"Iteration {iteration} has no training rows under method {self.name!r}: see {PAIRING_STATS} in "
            "its preferences for what was dropped; sample more (num_samples, temperature) or pick another "
            "method."
        )

    # -- how a notebook shows the method's work ----------------------------------------------------------------
    def preview(self, rows: Dataset, iteration: int, n: int = 2) -> pd.DataFrame:
        """``n`` training rows as a table: the question's end, then the trainer's answer columns. With no rows it
        prints why (`empty_message`) above the empty table."""
        if len(rows) == 0:
            print(f"no training rows: {self.empty_message(iteration)}")
        return self.make_trainer().preview(rows.select(range(min(n, len(rows)))))

    def rows_line(self, iteration: int, n_rows: int) -> str:
        """``12 pairs``, ``9 labelled answers``: what pairing made, in one line; with no rows, the reason."""
        return f"{n_rows} {self.make_trainer().rows_name}" if n_rows else self.empty_message(iteration)

    def training_summary(self, log_history: Sequence[dict]) -> dict:
        """Steps, first and last loss, and the trainer's own numbers (reward margins, token accuracy)."""
        return self.make_trainer().summarize(log_history)

    def training_line(self, iteration: int, log_history: Sequence[dict]) -> str:
        """One line on how training went, for the chain's terminal and the train notebook."""
        return self.make_trainer().line(iteration, self.training_summary(log_history))

    def plot_training(self, log_history: Sequence[dict]):
        """The trainer's curves over the steps (loss, and DPO's / KTO's reward margins or SFT's token accuracy)."""
        return self.make_trainer().plot(log_history)
