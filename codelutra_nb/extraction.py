"""Pulling the program out of raw model output: a markdown fence, or the code in plain text."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)
_LANGS = {"sql": ("sql", "sqlite", "postgresql", "mysql"), "python": ("python", "py", "python3")}


def extract_code(text: str, kind: str) -> str | None:
    """The candidate program in ``text``, or None when there is none.

    A fenced block tagged with the kind's language wins, then any fenced block;
    without fences, SQL is taken from the first ``SELECT``/``WITH`` to the first
    ``;`` or blank line, and Python is the whole text.
    """
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    tagged = [body for lang, body in blocks if lang in _LANGS[kind]]
    for body in tagged or [body for _, body in blocks]:
        code = _plain_sql(body) if kind == "sql" else body.strip("\n")
        if code and code.strip():
            return code
    if blocks:
        return None
    return _plain_sql(text) if kind == "sql" else (text.strip("\n") if text.strip() else None)


def _plain_sql(text: str) -> str | None:
    match = _SQL_START.search(text)
    if match is None:
        return None
    body = text[match.start():]
    body = re.split(r";|\n\s*\n", body, maxsplit=1)[0]
    return body.strip() or None
