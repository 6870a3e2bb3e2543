"""Pulling the SQL statement out of raw model output, and telling when it can no longer change.

The first statement in the text, fenced or not: from the first ``SELECT``
(upper case anywhere, any case at the start of a line) or ``WITH name AS (``
up to the first ``;`` outside strings and comments, found with the same
tokenizer the execution guard uses. In a ```` ``` ```` block the statement
also ends at the closing fence (blank lines inside belong to it); in bare text
it also ends at a blank line or a fence, where prose usually follows.
`sql_complete` is true once more text could not change what `extract_sql`
returns, which lets generation stop early without changing any result. Both
take time linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SQL_START = re.compile(
    r"\bSELECT\b|(?im:^[ \t]*select\b)|(?i:\bWITH\s+(?:RECURSIVE\s+)?\w+\s*(?:\([^)]*\)\s*)?AS\s*\()"
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_FENCE = "```"
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^']|'')*(?:'|\Z))
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
  | (?P<word>\w+)
  | (?P<punct>.)
""",
    re.VERBOSE | re.DOTALL,
)


def tokens(sql: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` of each token, without spaces and comments; kinds: string, quoted, word, punct."""
    for match in _TOKEN.finditer(sql):
        if match.lastgroup not in ("space", "comment"):
            yield match.lastgroup, match.group()  # type: ignore[misc]


def extract_sql(text: str) -> str | None:
    """The candidate query in ``text``, or None when there is none."""
    start = _SQL_START.search(text)
    if start is None:
        return None
    end = _statement_end(text, start.start())
    return text[start.start() : len(text) if end is None else end].strip() or None


def sql_complete(text: str) -> bool:
    """True when no continuation of ``text`` can change ``extract_sql(text)``."""
    start = _SQL_START.search(text)
    return start is not None and _statement_end(text, start.start()) is not None


def _statement_end(text: str, start: int) -> int | None:
    """Where the statement starting at ``start`` ends, or None when ``text`` ends first."""
    fenced = text.count(_FENCE, 0, start) % 2 == 1
    for match in _TOKEN.finditer(text, start):
        kind, token = match.lastgroup, match.group()
        if kind == "punct" and token == ";":
            return match.start()
        if kind == "quoted" and token.startswith(_FENCE):
            return match.start()
        if kind == "space" and not fenced and (blank := _BLANK_LINE.search(token)):
            return match.start() + blank.start()
    return None
