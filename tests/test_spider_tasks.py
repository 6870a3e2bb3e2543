"""Loading Spider-layout task files: records, databases, schemas, gold checks, and real Spider data."""

from __future__ import annotations

import json
import random
import sqlite3
import warnings
from pathlib import Path

import pytest
from conftest import shared_data

from codelutra_nb.config import TaskParams
from codelutra_nb.errors import TaskDataError
from codelutra_nb.kinds import load_tasks
from codelutra_nb.kinds.sql.execution import verify_sql
from codelutra_nb.kinds.sql.tasks import bundled_sets, load_sql_tasks
from codelutra_nb.verdicts import Category

# Spider's dev split has no department_store questions (they are in its train split, which ../shared/data does
# not hold), so the real-database test adds these, written for department_store in Spider's style.
DEPARTMENT_STORE_QUESTIONS = [
    (r["question"], r["query"])
    for r in json.loads((Path(__file__).parent / "data" / "department_store_questions.json").read_text())
]


def _make_db(db_dir: Path, db_id: str = "shop") -> Path:
    path = db_dir / db_id / f"{db_id}.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);
        CREATE TABLE stock (item_id INTEGER REFERENCES items (id), qty INTEGER);
        CREATE INDEX stock_item ON stock (item_id);
        INSERT INTO items VALUES (1, 'apple', 1.5), (2, 'pear', 2.0);
        INSERT INTO stock VALUES (1, 10), (2, 0);
    """)
    conn.commit()
    conn.close()
    return path


RECORDS = [
    {"db_id": "shop", "question": "How many items?", "query": "SELECT count(*) FROM items"},
    {"db_id": "shop", "question": "Item names?", "query": "SELECT name FROM items", "query_toks": ["SELECT"]},
    {"db_id": "shop", "question": "Out of stock?", "query": "SELECT item_id FROM stock WHERE qty = 0"},
]


@pytest.fixture
def spider_dir(tmp_path) -> Path:
    """A Spider-layout folder: dev.json, dev.jsonl and database/shop/shop.sqlite."""
    _make_db(tmp_path / "database")
    (tmp_path / "dev.json").write_text(json.dumps(RECORDS))
    (tmp_path / "dev.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    return tmp_path


@pytest.mark.parametrize("name", ["dev.json", "dev.jsonl"])
def test_json_list_and_jsonl(spider_dir, name):
    tasks = load_sql_tasks(str(spider_dir / name))
    assert [t.task_id for t in tasks] == ["0", "1", "2"]
    first = tasks[0]
    assert (first.kind, first.db_id, first.question, first.reference) == (
        "sql",
        "shop",
        "How many items?",
        "SELECT count(*) FROM items",
    )
    assert Path(first.db_path) == spider_dir / "database" / "shop" / "shop.sqlite"
    assert first.schema.startswith("CREATE TABLE items") and "\n\nCREATE TABLE stock" in first.schema
    assert "INDEX" not in first.schema
    assert first.prompt_fields()["schema"] == first.schema


def test_task_ids_and_db_dir(spider_dir, tmp_path_factory):
    records = [{**r, "task_id": f"shop-{i}"} for i, r in enumerate(RECORDS)]
    other = tmp_path_factory.mktemp("elsewhere")
    (other / "tasks.json").write_text(json.dumps(records))
    tasks = load_sql_tasks(str(other / "tasks.json"), db_dir=str(spider_dir / "database"))
    assert [t.task_id for t in tasks] == ["shop-0", "shop-1", "shop-2"]
    params = TaskParams(train_tasks=str(other / "tasks.json"), db_dir=str(spider_dir / "database"), train_ids="shop-1")
    assert list(load_tasks(params, "train")) == ["shop-1"]


def test_missing_database_names_the_path(spider_dir, tmp_path):
    with pytest.raises(TaskDataError) as err:
        load_sql_tasks(str(spider_dir / "dev.json"), db_dir=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "shop" / "shop.sqlite") in message
    assert "--db-dir" in message and "record 0" in message and "'shop'" in message


def test_missing_fields_and_bad_files(spider_dir):
    bad = spider_dir / "bad.json"
    bad.write_text(json.dumps(RECORDS + [{"db_id": "shop", "question": "No query?"}]))
    with pytest.raises(TaskDataError, match=r"bad.json: record 3 lacks 'query'"):
        load_sql_tasks(str(bad))
    bad.write_text('[{"db_id": "shop",')
    with pytest.raises(TaskDataError, match="bad.json is not valid JSON"):
        load_sql_tasks(str(bad))
    dup = spider_dir / "dup.json"
    dup.write_text(json.dumps([{**RECORDS[0], "task_id": "x"}, {**RECORDS[1], "task_id": "x"}]))
    with pytest.raises(TaskDataError, match="share task_id 'x'"):
        load_sql_tasks(str(dup))
    with pytest.raises(TaskDataError, match="does not exist"):
        load_sql_tasks(str(spider_dir / "absent.json"))


def test_unknown_bundled_name_lists_the_known_ones():
    with pytest.raises(TaskDataError, match="No bundled task set 'nope-sql/train'") as err:
        load_sql_tasks("nope-sql/train")
    for name in bundled_sets():
        assert name in str(err.value)


def test_failing_gold_query_is_dropped_with_one_warning(spider_dir):
    records = RECORDS + [
        {"db_id": "shop", "question": "Colour?", "query": "SELECT colour FROM items"},
        {"db_id": "shop", "question": "Typo?", "query": "SELEC name FROM items"},
    ]
    (spider_dir / "some_bad.json").write_text(json.dumps(records))
    with pytest.warns(UserWarning) as caught:
        tasks = load_sql_tasks(str(spider_dir / "some_bad.json"))
    assert [t.task_id for t in tasks] == ["0", "1", "2"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "dropped 2 of 5" in message and "3 (runtime_error: no such column: colour)" in message
    assert "4 (syntax_error" in message


def test_every_gold_query_failing_raises(spider_dir):
    (spider_dir / "all_bad.json").write_text(json.dumps([{"db_id": "shop", "question": "?", "query": "SELECT x"}]))
    with pytest.raises(TaskDataError, match="gold query of every task fails"):
        load_sql_tasks(str(spider_dir / "all_bad.json"))


def test_bundled_sets_load():
    assert bundled_sets() == ["demo-sql/eval", "demo-sql/train"]
    for name in bundled_sets():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tasks = load_sql_tasks(name)
        assert tasks and all(Path(t.db_path).is_file() and t.schema for t in tasks)


# ---- real Spider data ---------------------------------------------------------------------------------------------


def test_department_store_questions_on_the_real_database(tmp_path):
    spider = shared_data("spider")
    database = spider / "database"
    shared_data("spider", "database", "department_store", "department_store.sqlite")
    dev = json.loads((spider / "dev.json").read_text())
    records = [r for r in dev if r["db_id"] == "department_store"]
    records += [{"db_id": "department_store", "question": q, "query": sql} for q, sql in DEPARTMENT_STORE_QUESTIONS]
    (tmp_path / "department_store.json").write_text(json.dumps(records))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tasks = load_sql_tasks(str(tmp_path / "department_store.json"), db_dir=str(database))
    assert len(tasks) == len(records)
    assert "CREATE TABLE `Department_Store_Chain`" in tasks[0].schema
    by_id = {t.task_id: t for t in tasks}

    itself = verify_sql(by_id, [(t.task_id, f"```sql\n{t.reference}\n```") for t in tasks], progress=False)
    assert all(v.correct for v in itself), [v for v in itself if not v.correct]

    others = [t.reference for t in tasks]
    random.Random(0).shuffle(others)
    pairs = [(t.task_id, other) for t, other in zip(tasks, others) if other != t.reference]
    crossed = verify_sql(by_id, pairs, progress=False)
    wrong = sum(v.category is Category.WRONG_ANSWER for v in crossed)
    assert wrong >= 0.8 * len(pairs), [(p, v) for p, v in zip(pairs, crossed) if v.category != Category.WRONG_ANSWER]


def test_every_spider_dev_gold_query_runs_under_the_guard(tmp_path):
    """All 1034 dev gold queries pass the read-only guard, on empty databases built from tables.json."""
    spider = shared_data("spider")
    dev = json.loads((spider / "dev.json").read_text())
    schemas = {t["db_id"]: t for t in json.loads((spider / "tables.json").read_text())}
    for db_id in {r["db_id"] for r in dev}:
        schema = schemas[db_id]
        path = tmp_path / "database" / db_id / f"{db_id}.sqlite"
        path.parent.mkdir(parents=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = OFF")
        for index, table in enumerate(schema["table_names_original"]):
            if table.lower().startswith("sqlite_"):
                continue  # sqlite_sequence comes with AUTOINCREMENT and cannot be created
            columns = [
                f'"{name}" {kind}'
                for (owner, name), kind in zip(schema["column_names_original"], schema["column_types"])
                if owner == index
            ]
            conn.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
        conn.close()
    (tmp_path / "dev.json").write_text(json.dumps(dev))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tasks = load_sql_tasks(str(tmp_path / "dev.json"))
    assert len(tasks) == len(dev)
    verdicts = verify_sql({t.task_id: t for t in tasks}, [(t.task_id, t.reference) for t in tasks], progress=False)
    assert all(v.correct for v in verdicts)
