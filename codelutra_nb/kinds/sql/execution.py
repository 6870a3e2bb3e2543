"""Executing untrusted SQL on a Spider database and comparing results as execution accuracy does.

What a candidate query can and cannot do
----------------------------------------
Every query runs on a fresh connection with the guards below; the tests in
``tests/test_sql_execution.py`` check each of them.

* **No writes, no other files.** The file is opened read-only
  (``file:...?mode=ro``), ``PRAGMA query_only=ON`` is set, the number of
  attached databases is limited to 0, and an authorizer allows only ``SELECT``,
  reading columns, ``WITH RECURSIVE``, function calls other than
  ``load_extension`` / ``fts3_tokenizer``, and a few schema-listing pragmas
  (``table_info`` ...). Everything else is refused before it runs: ``INSERT``,
  ``UPDATE``, ``DELETE``, ``CREATE``, ``DROP``, ``ALTER``, ``ATTACH`` /
  ``DETACH``, ``VACUUM [INTO file]`` (it needs an attach), transactions,
  other pragmas (``writable_schema``, ``query_only=OFF`` ...). Extension
  loading stays disabled. The database file is byte-identical afterwards.
* **One statement.** Text with more than one statement is a ``syntax_error``
  and nothing of it runs; one trailing ``;`` is fine.
* **Bounded time.** A progress handler, called every 200 virtual machine
  steps, interrupts the query once ``timeout_s`` has passed (``timeout``).
  A single step cannot be interrupted; the longest ones are bounded: a
  ``LIKE`` / ``GLOB`` pattern may have at most 200 characters
  (``SQLITE_LIMIT_LIKE_PATTERN_LENGTH``), so one ``LIKE`` over a 1 MB string
  takes well under a second. The final merge of a huge sort can still overrun
  the limit by the length of that step.
* **Bounded result and values.** At most ``max_rows`` rows are fetched (more:
  ``runtime_error`` "more than N rows"), one at a time, and the fetched result
  may not exceed about ``max_bytes`` (64 MiB) in Python, checked after each
  row; no string or blob may exceed 1 MB (``SQLITE_LIMIT_LENGTH``, which stops
  ``zeroblob(1e9)``; a ``group_concat`` bomb stops growing there and runs into
  the time limit) and no result may have more than 100 columns
  (``SQLITE_LIMIT_COLUMN``), so one row holds at most 100 MB.

What it is not
--------------
Not a memory sandbox beyond the bounds above. SQLite's ``hard_heap_limit`` is
deliberately not used: it is process-wide, so it would have to be set and
restored around each query and would then race between the worker threads.
Instead, sorts, ``DISTINCT`` and ``GROUP BY`` over a row bomb (``WITH
RECURSIVE`` without end) spill to temporary files once the 2 MB page cache is
full (``temp_store=FILE``), so their memory stays small (measured: peak RSS
under 40 MB for each such bomb run to the 5 s limit) and the time limit stops
them. The price is disk: those temporary files grow until the time limit
(measured: about 80 MB in 5 s for integers, about 1 GB for 1 kB random blobs)
and are deleted when the connection closes. One result row may reach 100
columns x 1 MB before the byte cap sees it. Not a defence against bugs in
SQLite itself. The database file and its schema are trusted.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import TaskDataError
from ...progress import progress_bar
from ...verdicts import Category, Verdict
from ..base import MAX_COMPLETION_CHARS, check_task_ids
from .extraction import extract_sql, tokens

if TYPE_CHECKING:
    from .tasks import SQLTask

MAX_VALUE_BYTES = 1_000_000
"""Longest string or blob a query may build or read (SQLITE_LIMIT_LENGTH)."""

MAX_COLUMNS = 100
"""Most columns in a result (SQLITE_LIMIT_COLUMN): with `MAX_VALUE_BYTES`, a bound on one row."""

MAX_LIKE_PATTERN = 200
"""Longest LIKE / GLOB pattern (SQLITE_LIMIT_LIKE_PATTERN_LENGTH): one LIKE step costs at most about
pattern x string length, so a single virtual machine step cannot run long past the time limit."""

PROGRESS_STEPS = 200
"""Virtual machine steps between two checks of the time limit."""

MAX_PERMUTATIONS = 720
"""Most column orders `results_match` tries beyond the given one (6 interchangeable columns)."""

MAX_PERMUTED_COLUMNS = 64
"""Wider results are compared in their given column order only."""

_ALLOWED_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_SYNTAX_MARKERS = ("syntax error", "incomplete input", "unrecognized token", "one statement at a time")


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query that ran, or why it did not.

    Attributes:
        rows: The fetched rows (tuples of SQLite values), None when the query failed.
        error: `Category` of the failure (syntax_error, runtime_error or timeout), None on success.
        message: SQLite's (or our) error message, empty on success.
        seconds: Wall time of the connection, execution and fetch.
    """

    rows: list[tuple] | None
    error: Category | None = None
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_query(
    db_path: str | os.PathLike,
    sql: str,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 100_000,
    max_bytes: int = 64 * 2**20,
) -> QueryResult:
    """Run one untrusted query read-only on ``db_path`` within the bounds in the module docstring.

    Raises:
        TaskDataError: ``db_path`` does not exist (the task, not the query, is at fault).
    """
    start = time.monotonic()

    def failed(category: Category, message: str) -> QueryResult:
        return QueryResult(None, category, message, time.monotonic() - start)

    statements = split_statements(sql)
    if not statements:
        return failed(Category.SYNTAX_ERROR, "empty query")
    if len(statements) > 1:
        return failed(Category.SYNTAX_ERROR, f"{len(statements)} statements; give a single SELECT query")
    if "\x00" in sql:
        return failed(Category.SYNTAX_ERROR, "the query contains a NUL character")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        return failed(Category.SYNTAX_ERROR, f"the query is not valid text ({exc.reason})")
    path = Path(db_path)
    if not path.is_file():
        raise TaskDataError(f"Database file {path} does not exist; db_path must name an existing SQLite file.")

    deadline = start + timeout_s
    interrupted = False

    def check_time() -> int:
        nonlocal interrupted
        if time.monotonic() > deadline:
            interrupted = True
            return 1
        return 0

    conn = connect_read_only(path)
    try:
        conn.set_progress_handler(check_time, PROGRESS_STEPS)
        try:
            cursor = conn.execute(sql)
            if cursor.description is None:
                return failed(Category.RUNTIME_ERROR, "the statement returns no rows; give a SELECT query")
            row_overhead = 32 * len(cursor.description)
            rows: list[tuple] = []
            size = 0
            while (row := cursor.fetchone()) is not None:  # one at a time: the byte cap holds within a row or two
                rows.append(row)
                if len(rows) > max_rows:
                    return failed(Category.RUNTIME_ERROR, f"result has more than {max_rows} rows")
                size += row_overhead + sum(len(v) for v in row if isinstance(v, (str, bytes)))
                if size > max_bytes:
                    return failed(Category.RUNTIME_ERROR, f"result is larger than {max_bytes // 2**20} MiB")
                if time.monotonic() > deadline:
                    return failed(Category.TIMEOUT, f"query ran longer than {timeout_s:g} s")
        except sqlite3.Error as exc:
            if interrupted:
                return failed(Category.TIMEOUT, f"query ran longer than {timeout_s:g} s")
            message = str(exc)
            if any(marker in message for marker in _SYNTAX_MARKERS):
                return failed(Category.SYNTAX_ERROR, message)
            if message == "not authorized" or "readonly" in message:
                message = f"{message}: only read-only SELECT queries may run"
            return failed(Category.RUNTIME_ERROR, message)
        return QueryResult(rows, seconds=time.monotonic() - start)
    finally:
        conn.close()


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` guarded as the module docstring says (without the time limit)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.text_factory = _decode_text
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA temp_store=FILE")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)
        conn.set_authorizer(_authorize)
    except BaseException:
        conn.close()
        raise
    return conn


def _decode_text(value: bytes) -> str:
    # Some Spider databases hold text that is not UTF-8; Spider's evaluation drops such bytes.
    return value.decode("utf-8", errors="ignore")


def _authorize(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def split_statements(sql: str) -> list[list[tuple[str, str]]]:
    """The tokens of each non-empty statement in ``sql``, split at ``;`` outside strings and comments."""
    statements: list[list[tuple[str, str]]] = [[]]
    for kind, text in tokens(sql):
        if kind == "punct" and text == ";":
            statements.append([])
        else:
            statements[-1].append((kind, text))
    return [s for s in statements if s]


def has_top_level_order_by(sql: str) -> bool:
    """True when ``sql`` sorts its final result: ``ORDER BY`` outside any parentheses."""
    depth = 0
    previous = ""
    for kind, text in tokens(sql):
        if kind == "punct":
            depth += (text == "(") - (text == ")")
        elif kind == "word" and depth == 0:
            if previous == "ORDER" and text.upper() == "BY":
                return True
        previous = text.upper() if kind == "word" else ""
    return False


def results_match(gold_rows: Sequence[Sequence], cand_rows: Sequence[Sequence], order_matters: bool) -> bool:
    """Whether two results denote the same answer, as Spider's execution accuracy judges.

    Rows are compared as multisets (duplicates count), or as lists when ``order_matters``.
    Columns may come in another order: when the column counts agree, each column order
    whose per-column value multisets agree with the gold's is tried (at most
    `MAX_PERMUTATIONS`, and none beyond `MAX_PERMUTED_COLUMNS` columns). Numbers compare
    by value (``2 == 2.0``); floats are rounded to 12 significant digits so that two
    summation orders agree. Two empty results match.
    """
    gold = [tuple(map(_normalize, row)) for row in gold_rows]
    cand = [tuple(map(_normalize, row)) for row in cand_rows]
    if len(gold) != len(cand):
        return False
    if not gold:
        return True
    ncols = len(gold[0])
    if len(cand[0]) != ncols:
        return False
    if _same_rows(gold, cand, order_matters):
        return True
    if ncols == 1 or ncols > MAX_PERMUTED_COLUMNS:
        return False
    gold_columns = [frozenset(Counter(row[i] for row in gold).items()) for i in range(ncols)]
    cand_columns = [frozenset(Counter(row[j] for row in cand).items()) for j in range(ncols)]
    if Counter(gold_columns) != Counter(cand_columns):
        return False  # no column order gives every column its gold values
    # Columns with equal value multisets are interchangeable, so every partial choice below completes.
    options = [[j for j in range(ncols) if cand_columns[j] == gold_columns[i]] for i in range(ncols)]
    identity = tuple(range(ncols))
    vectors = [tuple(row[j] for row in cand) for j in range(ncols)]
    for tried, perm in enumerate(_bijections(options, vectors)):
        if tried > MAX_PERMUTATIONS:
            break
        if perm != identity and _same_rows(gold, [tuple(row[j] for j in perm) for row in cand], order_matters):
            return True
    return False


def _normalize(value):
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def _same_rows(gold: list[tuple], cand: list[tuple], order_matters: bool) -> bool:
    return gold == cand if order_matters else Counter(gold) == Counter(cand)


def _bijections(options: list[list[int]], vectors: list[tuple]) -> Iterator[tuple[int, ...]]:
    """Each assignment of a distinct candidate column to every gold column, from ``options[i]``.

    Candidate columns holding the same values row by row (``vectors``) give the same result,
    so only the first of them is tried at each position.
    """
    chosen: list[int] = []
    used: set[int] = set()

    def extend(i: int) -> Iterator[tuple[int, ...]]:
        if i == len(options):
            yield tuple(chosen)
            return
        seen: set[tuple] = set()
        for j in options[i]:
            if j not in used and vectors[j] not in seen:
                seen.add(vectors[j])
                chosen.append(j)
                used.add(j)
                yield from extend(i + 1)
                used.discard(j)
                chosen.pop()

    return extend(0)


def verify_sql(
    tasks: Mapping[str, SQLTask],
    candidates: Sequence[tuple[str, str]],
    *,
    timeout_s: float = 5.0,
    max_rows: int = 100_000,
    workers: int | None = None,
    progress: bool = True,
) -> list[Verdict]:
    """One `Verdict` per ``(task_id, raw completion)``, in input order, the same for any ``workers``
    (but for queries that finish within a hair of the time limit).

    The SQL is pulled out of the completion with `extract_sql`; it is run with `run_query`
    and its result compared with the task's gold result (computed once per task) by
    `results_match`. Identical queries for the same task run once.

    Args:
        tasks: Task id to `SQLTask`; every candidate's task id must be in it.
        candidates: ``(task_id, raw model completion)`` pairs.
        timeout_s / max_rows: Bounds of each query (see `run_query`).
        workers: Threads running queries; None: 1. SQLite releases the GIL while it steps a
            query, but on Spider-sized queries the Python around it (connection setup, the
            authorizer, fetching, comparing) dominates: ``benchmarks/verify_sql.py`` measured
            2 threads on 2 cores at 0.5x to 1.3x the speed of one, so one thread is the default.
        progress: Show a tqdm progress bar.

    Raises:
        TaskDataError: A candidate names an unknown task, a task has no gold query, or its gold
            query fails.
    """
    workers = max(1, workers or 1)
    check_task_ids(tasks, candidates)
    verdicts: list[Verdict | None] = [None] * len(candidates)
    jobs: dict[tuple[str, str], list[int]] = {}
    for index, (task_id, completion) in enumerate(candidates):
        sql = extract_sql(completion[:MAX_COMPLETION_CHARS])
        if sql is None:
            verdicts[index] = Verdict(Category.SYNTAX_ERROR, "no SQL found in the output")
        else:
            jobs.setdefault((task_id, sql.strip()), []).append(index)

    needed = list(dict.fromkeys(task_id for task_id, _ in jobs))
    gold = dict(
        zip(
            needed,
            _map(lambda task_id: _run_gold(tasks[task_id], timeout_s=timeout_s, max_rows=max_rows), needed, workers),
        )
    )

    def judge(job: tuple[str, str]) -> Verdict:
        task_id, sql = job
        expected = gold[task_id]
        result = run_query(tasks[task_id].db_path, sql, timeout_s=timeout_s, max_rows=max_rows)
        if not result.ok:
            return Verdict(result.error, result.message)
        order_matters = has_top_level_order_by(tasks[task_id].reference or "")
        if results_match(expected.rows, result.rows, order_matters):
            return Verdict(Category.CORRECT)
        return Verdict(Category.WRONG_ANSWER, _difference(expected.rows, result.rows, order_matters))

    with progress_bar(total=len(jobs), desc="verify sql", unit="query", disable=not progress) as bar:
        for job, verdict in zip(jobs, _map(judge, list(jobs), workers)):
            for index in jobs[job]:
                verdicts[index] = verdict
            bar.update()
    return verdicts  # type: ignore[return-value]


def _run_gold(task: SQLTask, *, timeout_s: float, max_rows: int) -> QueryResult:
    if not task.reference:
        raise TaskDataError(f"Task {task.task_id!r} has no gold query to compare SQL candidates with.")
    result = run_query(task.db_path, task.reference, timeout_s=timeout_s, max_rows=max_rows)
    if not result.ok:
        raise TaskDataError(
            f"The gold query of task {task.task_id!r} fails on {task.db_path} "
            f"({result.error.value}: {result.message}); fix or drop the task, or raise the "
            f"timeout / max_rows if the query is legitimate."
        )
    return result


def _map(fn, items: list, workers: int) -> Iterator:
    if workers == 1 or len(items) < 2:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify-sql") as pool:
        yield from pool.map(fn, items)


def _difference(gold: list[tuple], cand: list[tuple], order_matters: bool) -> str:
    gold_shape = f"{len(gold)} rows x {len(gold[0]) if gold else 0} columns"
    cand_shape = f"{len(cand)} rows x {len(cand[0]) if cand else 0} columns"
    if gold_shape != cand_shape:
        return f"result has {cand_shape}, the gold query's {gold_shape}"
    if order_matters and results_match(gold, cand, order_matters=False):
        return "right rows in the wrong order (the gold query has ORDER BY)"
    return f"result differs from the gold query's ({gold_shape})"
