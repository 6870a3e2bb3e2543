"""Training rows whose prompt alone fills ``max_length``: TRL's DPO, KTO and SFT trainers drop them without a word
(nothing of the answer would be left to learn from), so they are counted here instead.

The pair stage stores each row's prompt tokens in the ``prompt_tokens`` column (as TRL counts them: the chat template
with the generation prompt); `too_long` compares them with ``max_length`` when the rows are shown or trained, and the
train stage stops before training when most rows would be dropped (`TooLong.check`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import TaskDataError

if TYPE_CHECKING:
    from datasets import Dataset

    from .config import ModelParams

PROMPT_TOKENS = "prompt_tokens"
"""Column of the training rows: the tokens of the row's prompt."""
MOST = 0.5
"""Training stops when more than this share of the rows would be dropped for length."""


def prompt_tokens(rows: Dataset, model: ModelParams) -> list[int]:
    """The tokens of each row's prompt, as TRL's trainers count them with the base model's tokenizer."""
    from .models import load_tokenizer

    return count_tokens(rows["prompt"], load_tokenizer(model))


def count_tokens(prompts: Sequence[list[dict[str, str]]], tokenizer: Any) -> list[int]:
    """The tokens of each conversation with ``tokenizer``'s chat template and its generation prompt (as TRL's
    trainers tokenize a prompt); a conversation met before is counted once."""
    counted: dict[str, int] = {}
    lengths = []
    for prompt in prompts:
        key = json.dumps(prompt)
        if key not in counted:
            ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)
            counted[key] = len(ids["input_ids"])
        lengths.append(counted[key])
    return lengths


@dataclass(frozen=True)
class TooLong:
    """How many of ``rows`` training rows have a prompt of ``max_length`` tokens or more, and the longest prompt."""

    rows: int
    too_long: int
    longest: int
    max_length: int

    @property
    def most(self) -> bool:
        """More than half the rows would be dropped."""
        return self.too_long > self.rows * MOST

    def line(self) -> str:
        """``3 of 64 rows have prompts of max_length 1024 tokens or more (the longest 1,350): TRL drops them``, or
        empty when none has."""
        if not self.too_long:
            return ""
        return (
            f"{self.too_long} of {self.rows} rows have prompts of max_length {self.max_length} tokens or more (the "
            f"longest {self.longest:,}): TRL drops them"
        )

    def check(self, iteration: int) -> None:
        """`TaskDataError` when most rows would be dropped, saying what to change."""
        if self.most:
            raise TaskDataError(
                f"Iteration {iteration}: {self.line()} before training, so it would learn from "
                f"{self.rows - self.too_long} of {self.rows} rows; training stops here. Raise max_length above the "
                f"longest prompt plus room for an answer (e.g. {_room(self.longest)}; CodeLutra's Spider setting is "
                "2048), or shorten the prompt (prompt_template: for SQL, {tables} names the columns in about a third "
                "of the tokens of {schema})."
            )


def too_long(rows: Dataset, max_length: int) -> TooLong:
    """`TooLong` of the training rows against ``max_length`` (rows made before the column existed count as short)."""
    lengths = rows[PROMPT_TOKENS] if PROMPT_TOKENS in rows.column_names else []
    return TooLong(len(rows), sum(n >= max_length for n in lengths), max(lengths, default=0), max_length)


def _room(longest: int) -> int:
    """The next multiple of 256 at least 256 tokens above ``longest``."""
    return -(-(longest + 256) // 256) * 256
