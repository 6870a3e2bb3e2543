"""The outcome of running one candidate program against its reference."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    """What happened when a candidate ran; every candidate gets exactly one."""

    CORRECT = "correct"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"


CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)


@dataclass(frozen=True)
class Verdict:
    """Category of one candidate plus the error message (empty when correct)."""

    category: Category
    message: str = ""

    @property
    def correct(self) -> bool:
        return self.category is Category.CORRECT

    def to_dict(self) -> dict:
        return {"category": self.category.value, "correct": self.correct, "message": self.message}
