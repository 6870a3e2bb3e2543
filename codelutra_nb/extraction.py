"""Pulling the program out of raw model output, and telling when it can no longer change.

SQL: the first statement in the text, fenced or not: from the first ``SELECT``
(upper case anywhere, any case at the start of a line) or ``WITH name AS (``
up to the first ``;``, blank line or closing fence. Python: the first
``python``-tagged fenced block, else the first fenced block, else the whole
text. `code_complete` is true once more text could not change what
`extract_code` returns, which lets generation stop early without changing any
result.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(```|\Z)", re.DOTALL)
_SQL_START = re.compile(r"\bSELECT\b|(?im:^[ \t]*select\b)|(?i:\bWITH\s+(?:RECURSIVE\s+)?\w+\s*(?:\([^)]*\)\s*)?AS\s*\()")
_SQL_END = re.compile(r";|\n[ \t]*\n|```")
_PY_LANGS = ("python", "py", "python3")


def extract_code(text: str, kind: str) -> str | None:
    """The candidate program in ``text``, or None when there is none."""
    if kind == "sql":
        start = _SQL_START.search(text)
        if start is None:
            return None
        end = _SQL_END.search(text, start.start())
        return text[start.start():end.start() if end else len(text)].strip() or None
    blocks = [(lang.lower(), body) for lang, body, _ in _FENCE.findall(text)]
    tagged = [body for lang, body in blocks if lang in _PY_LANGS]
    for body in tagged or [body for _, body in blocks]:
        if body.strip():
            return body.strip("\n")
    if blocks:
        return None
    return text.strip("\n") if text.strip() else None


def code_complete(text: str, kind: str) -> bool:
    """True when no continuation of ``text`` can change ``extract_code(text, kind)``."""
    if kind == "sql":
        start = _SQL_START.search(text)
        return start is not None and _SQL_END.search(text, start.start()) is not None
    for match in _FENCE.finditer(text):
        if match.group(1).lower() in _PY_LANGS and match.group(2).strip():
            return match.group(3) == "```"
    return False
