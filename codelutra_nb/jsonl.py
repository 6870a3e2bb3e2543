"""Reading and writing JSON Lines, the format of samples, verdicts, evaluations and candidate files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import TaskDataError


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """One JSON object per line."""
    with Path(path).open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def parse_jsonl(text: str, where: str, hint: str = "") -> list[Any]:
    """The values of the non-empty lines of ``text``; `TaskDataError` naming ``where:line`` for a bad line."""
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise TaskDataError(
                f"{where}, line {lineno}: not valid JSON ({exc.msg}){'; ' + hint if hint else ''}."
            ) from None
    return records


def read_jsonl(path: Path, hint: str = "") -> list[Any]:
    """`parse_jsonl` of a UTF-8 file; `TaskDataError` if it does not exist."""
    path = Path(path)
    if not path.is_file():
        raise TaskDataError(f"{path} does not exist{'; ' + hint if hint else ''}.")
    return parse_jsonl(path.read_text(encoding="utf-8"), str(path), hint)
