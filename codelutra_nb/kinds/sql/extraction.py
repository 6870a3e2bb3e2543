"""Pulling the SQL statement out of raw model output, and telling when it can no longer change.

The first statement in the text, fenced or not: from the first ``SELECT``
(upper case anywhere, any case at the start of a line) or ``WITH name AS (``
up to the first ``;``, blank line or closing fence. `code_complete` is true
once more text could not change what `extract_sql` returns, which lets
generation stop early without changing any result.
"""

from __future__ import annotations

import re

_SQL_START = re.compile(
    r"\bSELECT\b|(?im:^[ \t]*select\b)|(?i:\bWITH\s+(?:RECURSIVE\s+)?\w+\s*(?:\([^)]*\)\s*)?AS\s*\()"
)
_SQL_END = re.compile(r";|\n[ \t]*\n|```")


def extract_sql(text: str) -> str | None:
    """The candidate query in ``text``, or None when there is none."""
    start = _SQL_START.search(text)
    if start is None:
        return None
    end = _SQL_END.search(text, start.start())
    return text[start.start() : end.start() if end else len(text)].strip() or None


def sql_complete(text: str) -> bool:
    """True when no continuation of ``text`` can change ``extract_sql(text)``."""
    start = _SQL_START.search(text)
    return start is not None and _SQL_END.search(text, start.start()) is not None
