"""codelutra_nb: the CodeLutra loop (sample, verify, pair, dual-loss train, evaluate) as notebooks over a package."""

from .config import LoopConfig, load_config

__all__ = ["LoopConfig", "load_config"]
__version__ = "0.1.0"
