"""Pulling the Python program out of raw model output, and telling when it can no longer change.

The first ``python``-tagged fenced block, else the first fenced block, else
the whole text. `python_complete` is true once more text could not change
what `extract_python` returns, which lets generation stop early without
changing any result.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(```|\Z)", re.DOTALL)
_PY_LANGS = ("python", "py", "python3")


def extract_python(text: str) -> str | None:
    """The candidate program in ``text``, or None when there is none."""
    blocks = [(lang.lower(), body) for lang, body, _ in _FENCE.findall(text)]
    tagged = [body for lang, body in blocks if lang in _PY_LANGS]
    for body in tagged or [body for _, body in blocks]:
        if body.strip():
            return body.strip("\n")
    if blocks:
        return None
    return text.strip("\n") if text.strip() else None


def python_complete(text: str) -> bool:
    """True when no continuation of ``text`` can change ``extract_python(text)``."""
    for match in _FENCE.finditer(text):
        if match.group(1).lower() in _PY_LANGS and match.group(2).strip():
            return match.group(3) == "```"
    return False
