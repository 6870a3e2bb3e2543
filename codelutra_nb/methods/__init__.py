"""Training methods: one `Method` per module, and the one registry the ``method`` parameter names.

Adding a method is one new module with a `Method` subclass (its own parameters as dataclass fields) plus one line
in `METHODS`. The config builds the chosen one (`LoopConfig.method`); nothing else looks a method up by name.
"""

from __future__ import annotations

from .base import Method, Rows
from .codelutra import CodeLutra
from .dpo_only import DpoOnly
from .dstc import Dstc
from .executability import Executability
from .plum import Plum
from .sft_gold import SftGold
from .sft_self import SftSelf

__all__ = ["METHODS", "Method", "Rows"]

METHODS: dict[str, type[Method]] = {
    "codelutra": CodeLutra,
    "executability": Executability,
    "plum": Plum,
    "dstc": Dstc,
    "dpo_only": DpoOnly,
    "sft_gold": SftGold,
    "sft_self": SftSelf,
}
"""Method name (the ``method`` parameter) -> its class (whose fields are its own parameters)."""
