"""Rebuild the bundled demo SQL databases (Spider layout) from their ``schema.sql``.

Layout: ``database/<db_id>/schema.sql`` is the full creation script (tables with
primary and foreign keys, then the rows); ``database/<db_id>/<db_id>.sqlite`` is
built from it. Building is deterministic: the old file is deleted and the script
is run once with ``executescript``.

Run ``python codelutra_nb/data/demo_sql/build.py`` to rebuild every ``.sqlite``
in place and rewrite ``tables.json`` (the Spider schema description) from them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATABASE_DIR = HERE / "database"
TABLES_JSON = HERE / "tables.json"

# Declared SQLite type -> Spider column type.
_SPIDER_TYPES = {"INTEGER": "number", "REAL": "number", "DATE": "time", "TEXT": "text"}


def build_one(schema_path: Path, sqlite_path: Path) -> Path:
    """Create ``sqlite_path`` from the script ``schema_path`` (deleting any old file)."""
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (sqlite_path, sqlite_path.with_name(sqlite_path.name + "-journal")):
        stale.unlink(missing_ok=True)
    conn = sqlite3.connect(sqlite_path)
    try:
        conn.executescript(schema_path.read_text(encoding="utf-8"))
        conn.commit()
    finally:
        conn.close()
    return sqlite_path


def build(db_dir: Path | str = DATABASE_DIR, out_dir: Path | str | None = None) -> list[Path]:
    """Build ``<out_dir>/<db_id>/<db_id>.sqlite`` for every ``<db_dir>/<db_id>/schema.sql``.

    ``out_dir`` defaults to ``db_dir`` (rebuild in place). Returns the built paths, sorted.
    """
    db_dir = Path(db_dir)
    out_dir = db_dir if out_dir is None else Path(out_dir)
    built = []
    for schema_path in sorted(db_dir.glob("*/schema.sql")):
        db_id = schema_path.parent.name
        built.append(build_one(schema_path, out_dir / db_id / f"{db_id}.sqlite"))
    return built


def _natural(name: str) -> str:
    """Spider-style readable name: ``Team_ID`` -> ``team id``, ``DeptName`` -> ``dept name``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return " ".join(spaced.lower().split())


def describe(sqlite_path: Path) -> dict:
    """The Spider ``tables.json`` entry for one database."""
    conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        entry = {
            "column_names": [[-1, "*"]],
            "column_names_original": [[-1, "*"]],
            "column_types": ["text"],
            "db_id": sqlite_path.stem,
            "foreign_keys": [],
            "primary_keys": [],
            "table_names": [_natural(t) for t in tables],
            "table_names_original": tables,
        }
        index = {}
        for t_idx, table in enumerate(tables):
            for _cid, col, col_type, _notnull, _default, pk in conn.execute(f'PRAGMA table_info("{table}")'):
                index[(table, col)] = len(entry["column_names"])
                if pk:
                    entry["primary_keys"].append(index[(table, col)])
                entry["column_names"].append([t_idx, _natural(col)])
                entry["column_names_original"].append([t_idx, col])
                entry["column_types"].append(_SPIDER_TYPES.get(col_type.upper(), "others"))
        for table in tables:
            for fk in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
                ref_table, from_col, to_col = fk[2], fk[3], fk[4]
                entry["foreign_keys"].append([index[(table, from_col)], index[(ref_table, to_col)]])
        entry["foreign_keys"].sort()
        return entry
    finally:
        conn.close()


def write_tables_json(db_dir: Path | str = DATABASE_DIR, path: Path | str = TABLES_JSON) -> list[dict]:
    """Write ``tables.json`` for every built database under ``db_dir``."""
    entries = [describe(p) for p in sorted(Path(db_dir).glob("*/*.sqlite"))]
    Path(path).write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return entries


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DATABASE_DIR
    for built_path in build(target):
        print(f"built {built_path}")
    if target == DATABASE_DIR:
        write_tables_json()
        print(f"wrote {TABLES_JSON}")
