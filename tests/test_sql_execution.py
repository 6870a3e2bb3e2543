"""Executing untrusted SQL: categories, the read-only and resource guards, and Spider's result comparison."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from codelutra_nb.errors import TaskDataError
from codelutra_nb.kinds.sql import SQLTask
from codelutra_nb.kinds.sql.execution import has_top_level_order_by, results_match, run_query, verify_sql
from codelutra_nb.verdicts import Category

BOMB = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "


@pytest.fixture
def db(tmp_path) -> Path:
    """A small shop database alone in its folder (so stray journal files would show)."""
    path = tmp_path / "shop" / "shop.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, qty INTEGER);
        INSERT INTO items VALUES (1, 'apple', 1.5, 3), (2, 'pear', 2.0, 3), (3, 'fig', 2.0, 1), (4, 'kiwi', 0.5, 2);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
        INSERT INTO notes VALUES (1, CAST(x'ff41' AS TEXT));
    """)
    conn.commit()
    conn.close()
    return path


def _task(db: Path, gold: str, task_id: str = "t") -> SQLTask:
    return SQLTask(task_id=task_id, question="?", reference=gold, db_id=db.stem, db_path=str(db), schema="")


def _verify(db: Path, gold: str, *completions: str, **kwargs):
    task = _task(db, gold)
    return verify_sql({task.task_id: task}, [(task.task_id, c) for c in completions], progress=False, **kwargs)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- categories -------------------------------------------------------------------------------------------------


def test_categories_of_candidates(db):
    verdicts = _verify(
        db,
        "SELECT name FROM items WHERE price > 1",
        "SELECT name FROM items WHERE price >= 1.5",
        "SELECT name FROM items WHERE price > 2",
        "SELECT nosuch FROM items",
        "SELEC name FROM items",
        "SELECT name FROM items WHERE name = 'apple",
    )
    assert [v.category for v in verdicts] == [
        Category.CORRECT,
        Category.WRONG_ANSWER,
        Category.RUNTIME_ERROR,
        Category.SYNTAX_ERROR,
        Category.SYNTAX_ERROR,
    ]
    assert "no such column: nosuch" in verdicts[2].message
    assert "rows" in verdicts[1].message and verdicts[0].message == ""


def test_text_sqlite_cannot_take_is_a_syntax_error(db):
    for sql in ("SELECT '\ud800'", "SELECT 1\x00"):
        result = run_query(db, sql)
        assert result.error is Category.SYNTAX_ERROR, result


def test_raw_outputs_with_fences_and_prose(db):
    verdicts = _verify(
        db,
        "SELECT count(*) FROM items",
        "Here is the query:\n```sql\nSELECT COUNT(*) FROM items;\n```\nIt counts the items.",
        "```\nSELECT count(id) FROM items\n```",
        "The answer is SELECT count(*) FROM items; this counts rows.",
        "I cannot answer this question.",
        "",
    )
    assert [v.category for v in verdicts[:3]] == [Category.CORRECT] * 3
    for verdict in verdicts[3:]:
        assert verdict.category is Category.SYNTAX_ERROR
        assert verdict.message == "no SQL found in the output"


def test_timeout_stops_an_endless_recursive_query(db):
    start = time.monotonic()
    result = run_query(db, BOMB + "SELECT x FROM r ORDER BY x DESC", timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert result.error is Category.TIMEOUT
    assert elapsed < 1.5, f"the 0.5 s limit stopped the query only after {elapsed:.2f} s"
    (verdict,) = _verify(db, "SELECT 1", BOMB + "SELECT count(*) FROM r", timeout_s=0.3)
    assert verdict.category is Category.TIMEOUT


def test_row_cap(db):
    result = run_query(db, BOMB + "SELECT x FROM r", max_rows=1000)
    assert result.error is Category.RUNTIME_ERROR and result.message == "result has more than 1000 rows"
    exact = run_query(db, BOMB + "SELECT x FROM r LIMIT 1000", max_rows=1000)
    assert exact.ok and len(exact.rows) == 1000


def test_memory_bounds_stop_value_and_result_bombs(db):
    start = time.monotonic()
    blob = run_query(db, "SELECT zeroblob(1000000000)")
    assert blob.error is Category.RUNTIME_ERROR and "too big" in blob.message
    wide = run_query(db, BOMB + "SELECT x, randomblob(900000) FROM r", max_bytes=8 * 2**20)
    assert wide.error is Category.RUNTIME_ERROR and "larger than 8 MiB" in wide.message
    assert time.monotonic() - start < 3


def test_one_statement_only(db):
    before = _digest(db)
    for sql in ("SELECT 1; SELECT 2", "SELECT 1; DROP TABLE items", "DROP TABLE items; SELECT 1"):
        result = run_query(db, sql)
        assert result.error is Category.SYNTAX_ERROR and "2 statements" in result.message
    assert run_query(db, "SELECT count(*) FROM items;").rows == [(4,)]
    assert run_query(db, "SELECT 'a;b' -- trailing ; comment\n;").rows == [("a;b",)]
    assert _digest(db) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM items",
        "DROP TABLE items",
        "INSERT INTO items VALUES (9, 'plum', 1.0, 1)",
        "UPDATE items SET price = 0",
        "REPLACE INTO items VALUES (1, 'x', 0, 0)",
        "WITH doomed AS (SELECT 1) DELETE FROM items",
        "ALTER TABLE items ADD COLUMN colour TEXT",
        "CREATE TABLE extra (a)",
        "CREATE TEMP TABLE extra (a)",
        "CREATE INDEX by_name ON items (name)",
        "ATTACH DATABASE '{dir}/other.sqlite' AS other; CREATE TABLE other.t (a)",
        "ATTACH DATABASE '{dir}/other.sqlite' AS other",
        "VACUUM INTO '{dir}/other.sqlite'",
        "VACUUM",
        "PRAGMA writable_schema = ON",
        "PRAGMA query_only = OFF",
        "PRAGMA journal_mode = WAL",
        "BEGIN IMMEDIATE",
        "SELECT load_extension('/tmp/evil')",
    ],
)
def test_write_attempts_fail_and_leave_the_file_unchanged(db, sql):
    before = _digest(db)
    files = sorted(p.name for p in db.parent.iterdir())
    result = run_query(db, sql.format(dir=db.parent))
    assert result.error in (Category.RUNTIME_ERROR, Category.SYNTAX_ERROR), result
    assert _digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == files
    assert run_query(db, "SELECT count(*) FROM items").rows == [(4,)]


def test_write_attempt_as_candidate_is_not_correct(db):
    before = _digest(db)
    verdicts = _verify(
        db,
        "SELECT count(*) FROM items",
        "DELETE FROM items",
        "```sql\nDROP TABLE items;\n```",
        "```sql\nWITH doomed AS (SELECT 1) DELETE FROM items\n```",
    )
    # Extraction only takes SELECT/WITH text, so a bare write never reaches SQLite; a WITH ... DELETE does.
    assert [v.category for v in verdicts] == [Category.SYNTAX_ERROR, Category.SYNTAX_ERROR, Category.RUNTIME_ERROR]
    assert "not authorized" in verdicts[2].message
    assert _digest(db) == before


def test_schema_pragmas_and_undecodable_text_are_readable(db):
    assert [row[1] for row in run_query(db, "PRAGMA table_info(items)").rows] == ["id", "name", "price", "qty"]
    assert run_query(db, "SELECT body FROM notes").rows == [("A",)]


def test_missing_database_is_a_task_error(tmp_path):
    with pytest.raises(TaskDataError, match="nowhere.sqlite"):
        run_query(tmp_path / "nowhere.sqlite", "SELECT 1")


# ---- comparison -------------------------------------------------------------------------------------------------


def test_order_is_ignored_unless_the_gold_query_orders(db):
    shuffled = "SELECT name FROM items ORDER BY name DESC"
    (unordered,) = _verify(db, "SELECT name FROM items ORDER BY name", shuffled)
    assert unordered.category is Category.WRONG_ANSWER and "wrong order" in unordered.message
    (ignored,) = _verify(db, "SELECT name FROM items", shuffled)
    assert ignored.category is Category.CORRECT
    assert results_match([(1,), (2,)], [(2,), (1,)], order_matters=False)
    assert not results_match([(1,), (2,)], [(2,), (1,)], order_matters=True)


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT a FROM t ORDER BY a", True),
        ("select a from t order\n by a desc limit 1", True),
        ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
        ("SELECT a FROM (SELECT a FROM t ORDER BY a)", False),
        ("SELECT a FROM t WHERE a IN (SELECT b FROM u ORDER BY b LIMIT 3)", False),
        ("SELECT rank() OVER (ORDER BY a) FROM t", False),
        ("SELECT 'order by' FROM t -- ORDER BY a", False),
        ('SELECT "ORDER" FROM t', False),
    ],
)
def test_top_level_order_by(sql, expected):
    assert has_top_level_order_by(sql) is expected


def test_column_permutation_is_tolerated(db):
    verdicts = _verify(
        db, "SELECT name, price FROM items", "SELECT price, name FROM items", "SELECT price, qty FROM items"
    )
    assert [v.category for v in verdicts] == [Category.CORRECT, Category.WRONG_ANSWER]
    ordered = _verify(db, "SELECT name, qty FROM items ORDER BY id", "SELECT qty, name FROM items ORDER BY id")
    assert ordered[0].category is Category.CORRECT
    # Same per-column values, but paired differently across rows: no column order makes them equal.
    assert not results_match([(1, "a"), (2, "b")], [("b", 1), ("a", 2)], order_matters=False)
    assert results_match([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], order_matters=True)


def test_permutation_search_is_capped():
    gold = [tuple(range(10)), tuple(range(10, 20))]
    cand = [tuple(range(10)), tuple(range(10, 19)) + (99,)]
    start = time.monotonic()
    assert not results_match(gold, cand, order_matters=False)
    same = [(1,) * 10, (2,) * 10]
    assert not results_match(same, [(1,) * 10, (2,) * 9 + (3,)], order_matters=False)
    # Twelve interchangeable zero columns do not use up the search before the needed swap is found.
    gold = [(0,) * 12 + (1, 2), (0,) * 12 + (2, 1)]
    assert results_match(gold, [(2,) + (0,) * 12 + (1,), (1,) + (0,) * 12 + (2,)], order_matters=True)
    assert time.monotonic() - start < 1


def test_duplicates_count(db):
    distinct, duplicated = _verify(
        db,
        "SELECT price FROM items",
        "SELECT DISTINCT price FROM items",
        "SELECT price FROM items UNION ALL SELECT 2.0 WHERE 0",
    )
    assert distinct.category is Category.WRONG_ANSWER
    assert duplicated.category is Category.CORRECT
    assert not results_match([(2,), (2,), (1,)], [(2,), (1,), (1,)], order_matters=False)


def test_numbers_compare_by_value(db):
    assert results_match([(2,)], [(2.0,)], order_matters=True)
    assert results_match([(0.1 + 0.2,)], [(0.3,)], order_matters=True)
    assert not results_match([(2,)], [("2",)], order_matters=True)
    assert not results_match([(2,)], [(2.5,)], order_matters=True)
    (verdict,) = _verify(db, "SELECT sum(qty) FROM items", "SELECT 9.0")
    assert verdict.category is Category.CORRECT


def test_empty_results_match():
    assert results_match([], [], order_matters=False)
    assert not results_match([], [(1,)], order_matters=False)


# ---- verify_sql -------------------------------------------------------------------------------------------------


def test_verdicts_in_input_order_whatever_the_workers(db):
    tasks = {
        t.task_id: t
        for t in (
            _task(db, "SELECT name FROM items WHERE qty = 3", "a"),
            _task(db, "SELECT max(price) FROM items", "b"),
        )
    }
    completions = [
        "SELECT name FROM items WHERE qty > 2",
        "SELECT 2",
        "SELECT 3",
        "no sql",
        "SELECT name FROM items WHERE qty > 2",
        "SELECT nope",
        BOMB + "SELECT count(*) FROM r",
    ]
    candidates = [("ab"[i % 2], c) for i, c in enumerate(completions)]
    one = verify_sql(tasks, candidates, workers=1, progress=False, timeout_s=0.3)
    two = verify_sql(tasks, candidates, workers=2, progress=False, timeout_s=0.3)
    assert one == two
    assert [v.category.value for v in one] == [
        "correct",
        "correct",
        "wrong_answer",
        "syntax_error",
        "correct",
        "runtime_error",
        "timeout",
    ]


def test_failing_gold_query_names_the_task(db):
    task = _task(db, "SELECT nosuch FROM items", "q17")
    with pytest.raises(TaskDataError, match="q17.*no such column"):
        verify_sql({"q17": task}, [("q17", "SELECT 1")], progress=False)
