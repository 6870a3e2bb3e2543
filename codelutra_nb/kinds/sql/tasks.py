"""Text-to-SQL tasks in the Spider or BIRD layout: a JSON list (or JSONL) of records plus a folder of databases.

The layout is detected per record:

- Spider: ``db_id``, ``question`` and ``query`` (the gold SQL); id ``task_id``, else the record's index.
- BIRD: ``db_id``, ``question``, ``SQL`` (the gold SQL) and ``evidence`` (external knowledge the question needs,
  which goes into the prompt: ``{evidence}``); id ``task_id``, else ``question_id``, else the record's index.

The database of a record is ``<db_dir>/<db_id>/<db_id>.sqlite``; ``db_dir`` defaults to the folder next to the task
file that holds them as the benchmarks ship it: ``database`` (Spider) or ``<file stem>_databases`` (BIRD's
``train.json`` beside ``train_databases``, ``dev.json`` beside ``dev_databases``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import TaskDataError
from ...jsonl import parse_jsonl
from ..base import Task
from ..sources import DATA_DIR
from .execution import connect_read_only, run_query

REQUIRED_FIELDS = ("db_id", "question", "query")
BIRD_FIELDS = ("db_id", "question", "SQL")
"""A BIRD record's required fields (its ``evidence`` may be empty)."""
_BUNDLED_NAME = re.compile(r"^[A-Za-z0-9_-]+/[A-Za-z0-9_-]+$")
_MAX_LISTED_FAILURES = 20
_HINT = "give a JSON list or JSONL (one object per line) of Spider or BIRD records"


@dataclass(frozen=True, kw_only=True)
class SQLTask(Task):
    """A text-to-SQL question over one SQLite database (Spider or BIRD layout).

    Attributes:
        db_id: Database name, as in Spider's ``db_id``.
        db_path: Path of the SQLite file the queries run on.
        schema: The ``CREATE TABLE`` statements (``{schema}`` in a prompt template).
        tables: The same tables as ``name(column, ...)`` lines (``{tables}``), a third of the tokens.
        evidence: BIRD's external knowledge for the question (``{evidence}``); empty for Spider.
    """

    kind: str = "sql"
    db_id: str
    db_path: str
    schema: str
    tables: str = ""
    evidence: str = ""

    def prompt_fields(self) -> dict[str, str]:
        return {
            "question": self.question,
            "schema": self.schema,
            "tables": self.tables,
            "db_id": self.db_id,
            "evidence": self.evidence,
        }

    @property
    def group(self) -> str:
        return self.db_id


def load_sql_tasks(source: str, db_dir: str | None = None, *, timeout_s: float = 5.0) -> list[SQLTask]:
    """Load SQL tasks from a bundled set or a Spider- or BIRD-layout file, checking every gold query.

    Each gold query is executed once (read-only, within ``timeout_s``); a task whose gold
    query fails is dropped with one warning that lists them, so that one bad question does
    not stop a long run.

    Args:
        source: A bundled set such as ``"demo-sql/train"`` (``codelutra_nb/data/demo_sql/train.json``),
            or a path to a JSON list or JSONL file of Spider or BIRD records.
        db_dir: Folder holding ``<db_id>/<db_id>.sqlite`` (Spider's ``database`` folder, BIRD's
            ``dev_databases``); default: ``database`` or ``<file stem>_databases`` next to the task file.
        timeout_s: Time limit of each gold query.

    Raises:
        TaskDataError: Unknown bundled name, missing or malformed file or record, missing
            database, duplicated task ids, or every gold query fails.
    """
    path = resolve_source(source)
    records = _read_records(path)
    databases = Path(db_dir) if db_dir is not None else default_db_dir(path)
    tasks = []
    seen: dict[str, int] = {}
    missing_dbs: dict[str, tuple[int, Path]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise TaskDataError(
                f"{path}: record {index} is a {type(record).__name__}, not an object with {', '.join(REQUIRED_FIELDS)}."
            )
        bird = "SQL" in record and "query" not in record
        absent = [
            f
            for f in (BIRD_FIELDS if bird else REQUIRED_FIELDS)
            if not isinstance(record.get(f), str) or not record[f].strip()
        ]
        if absent:
            raise TaskDataError(
                f"{path}: record {index} lacks {', '.join(repr(f) for f in absent)} (each must be a "
                f"non-empty string); a Spider record has 'db_id', 'question' and 'query', a BIRD record 'db_id', "
                "'question', 'SQL' and 'evidence'."
            )
        evidence = record.get("evidence") or ""
        if not isinstance(evidence, str):
            raise TaskDataError(f"{path}: record {index} has an 'evidence' that is not a string; BIRD's is text.")
        task_id = str(record.get("task_id", record.get("question_id", index) if bird else index))
        if task_id in seen:
            raise TaskDataError(
                f"{path}: records {seen[task_id]} and {index} share task_id {task_id!r}; "
                f"task ids must be unique (drop 'task_id' to number records by position)."
            )
        seen[task_id] = index
        db_id = record["db_id"]
        db_path = databases / db_id / f"{db_id}.sqlite"
        if not db_path.is_file():
            missing_dbs.setdefault(db_id, (index, db_path))
            continue
        tasks.append(
            SQLTask(
                task_id=task_id,
                question=record["question"],
                reference=record["SQL" if bird else "query"],
                db_id=db_id,
                db_path=str(db_path),
                schema=_schema(db_path),
                tables=_tables(db_path),
                evidence=evidence.strip(),
            )
        )
    if missing_dbs:
        db_id, (index, db_path) = next(iter(missing_dbs.items()))
        others = sorted(set(missing_dbs) - {db_id})
        also = (
            (
                f"; {len(others)} more databases are missing too ({', '.join(others[:5])}"
                f"{' ...' if len(others) > 5 else ''})"
            )
            if others
            else ""
        )
        raise TaskDataError(
            f"{path}: record {index} (db_id {db_id!r}) needs the database {db_path}, which does not "
            f"exist{also}. --db-dir (db_dir=) must point to the folder holding <db_id>/<db_id>.sqlite (Spider's "
            f"'database', BIRD's 'dev_databases' or 'train_databases'; now {databases})."
        )
    if not tasks:
        raise TaskDataError(f"{path} holds no records; give a JSON list or JSONL of Spider or BIRD records.")

    failures = []
    for task in tasks:
        result = run_query(task.db_path, task.reference, timeout_s=timeout_s)
        if not result.ok:
            failures.append((task.task_id, f"{result.error.value}: {result.message}"))
    if len(failures) == len(tasks):
        raise TaskDataError(
            f"{path}: the gold query of every task fails, e.g. task {failures[0][0]} "
            f"({failures[0][1]}); check that --db-dir (db_dir=) holds the databases these "
            f"questions were written for."
        )
    if failures:
        listed = "; ".join(f"{task_id} ({error})" for task_id, error in failures[:_MAX_LISTED_FAILURES])
        more = len(failures) - _MAX_LISTED_FAILURES
        warnings.warn(
            f"{path}: dropped {len(failures)} of {len(tasks)} tasks whose gold query fails: {listed}"
            + (f"; and {more} more" if more > 0 else ""),
            stacklevel=2,
        )
        dropped = {task_id for task_id, _ in failures}
        tasks = [t for t in tasks if t.task_id not in dropped]
    return tasks


def default_db_dir(task_file: Path) -> Path:
    """The databases folder next to ``task_file``: ``database`` (Spider), else ``<stem>_databases`` (BIRD) when only
    that exists."""
    spider, bird = task_file.parent / "database", task_file.parent / f"{task_file.stem}_databases"
    return bird if bird.is_dir() and not spider.is_dir() else spider


def bundled_sets() -> list[str]:
    """Names of the bundled SQL sets (folders holding a ``database``), e.g. ``["demo-sql/eval", "demo-sql/train"]``."""
    return sorted(
        f"{folder.name.replace('_', '-')}/{file.stem}"
        for folder in DATA_DIR.glob("*")
        if (folder / "database").is_dir()
        for file in folder.glob("*.json*")
        if file.stem != "tables"
    )


def resolve_source(source: str) -> Path:
    """The task file that ``source`` names: an existing path, or a bundled set name."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise TaskDataError(
            f"Task source {source!r} is a folder; give a JSON/JSONL file of Spider records "
            f"(e.g. {path / 'dev.json'}) or a bundled set."
        )
    if _BUNDLED_NAME.match(source) and not source.endswith((".json", ".jsonl")):
        name, split = source.split("/")
        for suffix in (".json", ".jsonl"):
            candidate = DATA_DIR / name.replace("-", "_") / f"{split}{suffix}"
            if candidate.is_file():
                return candidate
        known = bundled_sets()
        raise TaskDataError(
            f"No bundled task set {source!r} (no file {DATA_DIR / name.replace('-', '_') / split}"
            f".json); known sets: {', '.join(known) or 'none installed'}. Or give the path of "
            f"a Spider JSON/JSONL file."
        )
    raise TaskDataError(
        f"Task file {path} does not exist; give the path of a Spider JSON/JSONL file "
        f"or a bundled set ({', '.join(bundled_sets()) or 'none installed'})."
    )


def _read_records(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TaskDataError(f"{path} is not UTF-8 text; give a JSON list or JSONL of Spider records.") from None
    if path.suffix != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.lstrip().startswith("["):
                raise TaskDataError(
                    f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); give a JSON list "
                    f"or JSONL of Spider records."
                ) from None
        else:
            return data if isinstance(data, list) else [data]
    return parse_jsonl(text, str(path), _HINT)


def _schema(db_path: Path) -> str:
    stat = db_path.stat()
    return _schema_of(str(db_path.resolve()), stat.st_mtime_ns, stat.st_size)


def _tables(db_path: Path) -> str:
    stat = db_path.stat()
    return _tables_of(str(db_path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _tables_of(db_path: str, mtime_ns: int, size: int) -> str:
    """One line per table, ``name(column, column, ...)``: a schema in a third of the tokens."""
    conn = connect_read_only(Path(db_path))
    try:
        names = [
            n
            for (n,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
            )
        ]
        return "\n".join(
            f"{n}({', '.join(c[1] for c in conn.execute(f'PRAGMA table_info({_quote(n)})'))})" for n in names
        )
    finally:
        conn.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def _schema_of(db_path: str, mtime_ns: int, size: int) -> str:
    """The ``CREATE TABLE`` statements of a database, joined by blank lines (cached per file version)."""
    try:
        conn = connect_read_only(Path(db_path))
        try:
            rows = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise TaskDataError(f"Cannot read the schema of {db_path} ({exc}); it must be a SQLite database.") from None
    return "\n\n".join(sql.strip() for (sql,) in rows)
