"""codelutra_nb: the CodeLutra loop (sample, verify, pair, dual-loss train, evaluate) as notebooks over a package.

Importing the package imports nothing beyond the standard library (`codelutra_nb.session` installs the dependencies
in a fresh notebook session); ``LoopConfig`` and ``load_config`` load `codelutra_nb.config` when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LoopConfig, load_config

__all__ = ["LoopConfig", "load_config"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'codelutra_nb' has no attribute {name!r}")
