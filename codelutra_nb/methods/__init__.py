"""Training methods: one `Method` per module, and the one registry the ``method`` parameter names.

Adding a method is one new module with a `Method` subclass plus one line in `METHODS`.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method, Rows
from .codelutra import CodeLutra
from .dpo_only import DpoOnly
from .dstc import Dstc
from .executability import Executability
from .plum import Plum
from .sft_gold import SftGold
from .sft_self import SftSelf

__all__ = ["METHODS", "Method", "Rows", "get_method"]

METHODS: dict[str, Method] = {
    "codelutra": CodeLutra(),
    "executability": Executability(),
    "plum": Plum(),
    "dstc": Dstc(),
    "dpo_only": DpoOnly(),
    "sft_gold": SftGold(),
    "sft_self": SftSelf(),
}
"""Method name (the ``method`` parameter) -> the method."""


def get_method(name: str) -> Method:
    """The registered method called ``name``; `ConfigError` listing the known ones otherwise."""
    if name not in METHODS:
        raise ConfigError(f"Unknown method {name!r}; known methods: {sorted(METHODS)}.")
    return METHODS[name]
