"""Training methods: one `Method` per module, and the one registry the ``method`` parameter names.

Adding a method is one new module with a `Method` subclass plus one line in `METHODS`.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method
from .codelutra import CodeLutra

__all__ = ["METHODS", "Method", "get_method"]

METHODS: dict[str, Method] = {
    "codelutra": CodeLutra(),
}
"""Method name (the ``method`` parameter) -> the method."""


def get_method(name: str) -> Method:
    """The registered method called ``name``; `ConfigError` listing the known ones otherwise."""
    if name not in METHODS:
        raise ConfigError(f"Unknown method {name!r}; known methods: {sorted(METHODS)}.")
    return METHODS[name]
