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

DEMO = Path(codelutra_nb.__file__).parent / "data" / "demo_sql"
DB_DIR = DEMO / "database"

# The split is fixed by the files: changing a file's size must be deliberate.
TRAIN_SIZE = 104
EVAL_SIZE = 53
EVAL_ONLY_DB = "clinic"
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
    assert len(TRAIN) >= 90 and len(EVAL) >= 40
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
    assert len(DB_IDS) == 4
    assert eval_dbs == set(DB_IDS)
    assert len(train_dbs) == 3
    assert eval_dbs - train_dbs == {EVAL_ONLY_DB}
    assert sum(r["db_id"] == EVAL_ONLY_DB for r in EVAL) >= 10


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


_LIMIT_QUERY = re.compile(
    r"^SELECT (?P<cols>.+?) FROM (?P<body>.+) ORDER BY (?P<key>.+?)(?P<dir> ASC| DESC)? LIMIT (?P<n>\d+)$",
    re.IGNORECASE | re.DOTALL,
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
