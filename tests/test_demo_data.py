"""The bundled demo SQL task set (codelutra_nb/data/demo_sql) is well formed and self-consistent."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import codelutra_nb
from codelutra_nb.kinds.sql.execution import has_top_level_order_by, run_query

DEMO = Path(codelutra_nb.__file__).parent / "data" / "demo_sql"
DB_DIR = DEMO / "database"

# The split is fixed by the files: changing a file's size must be deliberate.
TRAIN_SIZE = 260
EVAL_SIZE = 101
# Whole databases held out of training: accuracy on schemas the model never trained on is measured on them alone.
EVAL_ONLY_DBS = {"clinic", "hotel"}
MIN_EVAL_ONLY_QUESTIONS = 32
MIN_DATABASES = 8
DIFFICULTIES = {"easy", "medium", "hard"}
MAX_PREFIX_SHARE = 0.30


def _load(name: str) -> list[dict]:
    return json.loads((DEMO / name).read_text(encoding="utf-8"))


def _db_path(db_id: str) -> Path:
    return DB_DIR / db_id / f"{db_id}.sqlite"


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _build_module():
    spec = importlib.util.spec_from_file_location("demo_sql_build", DEMO / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = _load("train.json")
EVAL = _load("eval.json")
SPLITS = {"train": TRAIN, "eval": EVAL}
ALL = [(split, i, rec) for split, recs in SPLITS.items() for i, rec in enumerate(recs)]
DB_IDS = sorted(p.name for p in DB_DIR.iterdir() if p.is_dir())


def test_split_sizes():
    assert len(TRAIN) >= 250 and len(EVAL) >= 80
    assert (len(TRAIN), len(EVAL)) == (TRAIN_SIZE, EVAL_SIZE)


@pytest.mark.parametrize("split", SPLITS)
def test_record_format(split):
    for rec in SPLITS[split]:
        assert set(rec) == {"db_id", "question", "query", "difficulty"}, rec
        assert rec["db_id"] in DB_IDS, rec
        assert rec["difficulty"] in DIFFICULTIES, rec
        assert rec["question"].strip() and rec["query"].strip(), rec


def test_questions_unique_and_disjoint():
    train_q = [r["question"] for r in TRAIN]
    eval_q = [r["question"] for r in EVAL]
    assert len(set(train_q)) == len(train_q)
    assert len(set(eval_q)) == len(eval_q)
    assert not set(train_q) & set(eval_q)


def test_database_coverage():
    train_dbs = {r["db_id"] for r in TRAIN}
    eval_dbs = {r["db_id"] for r in EVAL}
    assert len(DB_IDS) >= MIN_DATABASES
    assert eval_dbs == set(DB_IDS), "every database, trained on or not, has held-out questions"
    assert train_dbs == set(DB_IDS) - EVAL_ONLY_DBS
    assert eval_dbs - train_dbs == EVAL_ONLY_DBS
    assert len(EVAL_ONLY_DBS) >= 2


def test_eval_only_databases_stay_out_of_training():
    leaked = [(i, r["db_id"], r["question"]) for i, r in enumerate(TRAIN) if r["db_id"] in EVAL_ONLY_DBS]
    assert not leaked, f"training questions on held-out-only databases: {leaked[:5]}"
    assert sum(r["db_id"] in EVAL_ONLY_DBS for r in EVAL) >= MIN_EVAL_ONLY_QUESTIONS
    for db_id in EVAL_ONLY_DBS:
        assert sum(r["db_id"] == db_id for r in EVAL) >= 10, db_id


@pytest.mark.parametrize("split", SPLITS)
def test_difficulties_and_phrasing(split):
    recs = SPLITS[split]
    assert {r["difficulty"] for r in recs} == DIFFICULTIES
    prefixes = Counter(" ".join(r["question"].lower().split()[:2]) for r in recs)
    prefix, count = prefixes.most_common(1)[0]
    assert count <= MAX_PREFIX_SHARE * len(recs), f"{prefix!r} starts {count} of {len(recs)} questions"


@pytest.fixture(scope="module")
def connections():
    conns = {db_id: _connect_ro(_db_path(db_id)) for db_id in DB_IDS}
    yield conns
    for conn in conns.values():
        conn.close()


def test_gold_queries_execute(connections):
    for split, i, rec in ALL:
        query = rec["query"].strip()
        where = f"{split}[{i}] {query}"
        assert ";" not in query.rstrip(";"), f"not a single statement: {where}"
        if " LIMIT " in query.upper():
            assert " ORDER BY " in query.upper(), f"LIMIT without ORDER BY: {where}"
        rows = connections[rec["db_id"]].execute(query).fetchall()
        assert len(rows) >= 1, f"empty result: {where}"


@pytest.mark.parametrize("split", SPLITS)
def test_gold_queries_run_under_the_read_only_guards(split):
    """Each gold query runs as the verifier runs it (read-only, bounded) and gives a non-empty answer."""
    for i, rec in enumerate(SPLITS[split]):
        result = run_query(_db_path(rec["db_id"]), rec["query"], timeout_s=2.0)
        where = f"{split}[{i}] {rec['query']}"
        assert result.ok, f"{result.error}: {result.message}: {where}"
        assert result.rows, f"empty result: {where}"
        assert any(v is not None for row in result.rows for v in row), f"only NULLs: {where}"


_LIMIT_QUERY = re.compile(
    r"^SELECT (?P<cols>.+?) FROM (?P<body>.+) ORDER BY (?P<key>.+?)(?P<dir> ASC| DESC)? LIMIT (?P<n>\d+)$",
    re.IGNORECASE | re.DOTALL,
)

_ORDER_QUERY = re.compile(
    r"^SELECT (?P<cols>.+?) FROM (?P<body>.+) ORDER BY (?P<key>.+?)(?P<dir> ASC| DESC)?$", re.IGNORECASE | re.DOTALL
)


def test_gold_results_deterministic(connections):
    """Unordered results must not depend on scan order; a LIMIT must not cut through a tie."""
    for split, i, rec in ALL:
        query = rec["query"].strip()
        where = f"{split}[{i}] {query}"
        match = _LIMIT_QUERY.match(query)
        if match:
            # Select the ORDER BY key instead, without the LIMIT: the last kept key must differ from the next.
            keys_sql = f"SELECT {match['key']} FROM {match['body']} ORDER BY {match['key']}{match['dir'] or ''}"
            keys = connections[rec["db_id"]].execute(keys_sql).fetchall()
            n = int(match["n"])
            assert len(keys) <= n or keys[n - 1] != keys[n], f"tie at the LIMIT cut: {where}"
            continue
        assert " LIMIT " not in query.upper(), f"unexpected LIMIT form: {where}"
        if has_top_level_order_by(query):
            # Row order is then compared, so the sort key must not tie (reverse_unordered_selects cannot show it).
            match = _ORDER_QUERY.match(query)
            assert match, f"unexpected ORDER BY form: {where}"
            keys_sql = f"SELECT {match['key']} FROM {match['body']}"
            keys = connections[rec["db_id"]].execute(keys_sql).fetchall()
            assert len(set(keys)) == len(keys), f"tie in the ORDER BY key: {where}"
            continue
        results = []
        for reverse in ("OFF", "ON"):
            conn = _connect_ro(_db_path(rec["db_id"]))
            try:
                conn.execute(f"PRAGMA reverse_unordered_selects = {reverse}")
                results.append(sorted(map(repr, conn.execute(query).fetchall())))
            finally:
                conn.close()
        assert results[0] == results[1], where


def test_rebuild_matches_committed(tmp_path):
    build = _build_module()
    built = build.build(DB_DIR, out_dir=tmp_path)
    assert sorted(p.parent.name for p in built) == DB_IDS
    for db_id in DB_IDS:
        fresh = sqlite3.connect(tmp_path / db_id / f"{db_id}.sqlite")
        committed = _connect_ro(_db_path(db_id))
        try:
            assert list(fresh.iterdump()) == list(committed.iterdump()), db_id
        finally:
            fresh.close()
            committed.close()


def test_tables_json_matches_databases(connections):
    entries = _load("tables.json")
    assert sorted(e["db_id"] for e in entries) == DB_IDS
    for entry in entries:
        conn = connections[entry["db_id"]]
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        assert sorted(entry["table_names_original"]) == sorted(tables)
        assert len(entry["table_names"]) == len(tables)

        cols = entry["column_names_original"]
        assert cols[0] == [-1, "*"] and entry["column_names"][0] == [-1, "*"]
        assert len(entry["column_names"]) == len(cols) == len(entry["column_types"])
        assert [c[0] for c in entry["column_names"]] == [c[0] for c in cols]

        expected_cols, expected_pks = [], set()
        for t_idx, table in enumerate(entry["table_names_original"]):
            for _cid, name, _type, _notnull, _default, pk in conn.execute(f'PRAGMA table_info("{table}")'):
                expected_cols.append([t_idx, name])
                if pk:
                    expected_pks.add(len(expected_cols))  # index in cols, after [-1, "*"]
        assert cols[1:] == expected_cols, entry["db_id"]
        assert set(entry["primary_keys"]) == expected_pks, entry["db_id"]

        index = {(entry["table_names_original"][t], name): i for i, (t, name) in enumerate(cols) if t >= 0}
        expected_fks = set()
        for table in entry["table_names_original"]:
            for fk in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
                expected_fks.add((index[(table, fk[3])], index[(fk[2], fk[4])]))
        assert {tuple(fk) for fk in entry["foreign_keys"]} == expected_fks, entry["db_id"]


def _tables_json() -> dict[str, dict]:
    return {e["db_id"]: e for e in _load("tables.json")}


def test_schema_files_start_with_their_description():
    for db_id in DB_IDS:
        first = (DB_DIR / db_id / "schema.sql").read_text(encoding="utf-8").splitlines()[0]
        assert re.fullmatch(rf"-- {re.escape(db_id)}: \S.*", first), (db_id, first)


def test_every_database_has_a_few_tables_joined_by_foreign_keys():
    for db_id, entry in _tables_json().items():
        assert 2 <= len(entry["table_names_original"]) <= 6, db_id
        assert entry["foreign_keys"], f"{db_id} has no foreign key"


# Naming styles, told apart by the names alone: the demo should teach reading schemas that do not all look alike.
_SNAKE = re.compile(r"[a-z]+(?:_[a-z]+)+")  # member_name
_CAMEL = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]*)+")  # DeptName, EmployeeID
_ABBREVIATIONS = {"no", "num", "qty", "amt", "dt", "yr", "nm", "apt", "dep", "arr", "flt", "ctry", "cap", "cls", "chk"}


def _words(name: str) -> list[str]:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().split("_")


def _styles(entry: dict) -> set[str]:
    tables = entry["table_names_original"]
    columns = [(t, name) for t, name in entry["column_names_original"] if t >= 0]
    names = tables + [name for _t, name in columns]
    styles = set()
    if any(_SNAKE.fullmatch(n) for n in names):
        styles.add("snake_case")
    if any(_CAMEL.fullmatch(n) for n in names):
        styles.add("CamelCase")
    if any(w in _ABBREVIATIONS for n in names for w in _words(n)):
        styles.add("abbreviated")
    # A tbl_ table, or a table whose columns (at least 3) share a short prefix such as stu_ or flt_.
    prefixes = Counter((t, m[1]) for t, n in columns if (m := re.match(r"([a-z]{2,4})_", n)))
    if any(t.startswith("tbl_") for t in tables) or any(count >= 3 for count in prefixes.values()):
        styles.add("prefixed")
    return styles


def test_naming_styles_vary():
    styles = {db_id: _styles(entry) for db_id, entry in _tables_json().items()}
    wanted = {"snake_case", "CamelCase", "abbreviated", "prefixed"}
    assert set().union(*styles.values()) >= wanted, styles
    trained = {r["db_id"] for r in TRAIN}
    assert set().union(*(styles[db_id] for db_id in trained)) >= wanted, "training should show every style"
    assert len({frozenset(s) for s in styles.values()}) >= 4, styles
