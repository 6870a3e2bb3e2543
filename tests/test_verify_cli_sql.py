"""``python -m codelutra_nb verify --kind sql``: annotated candidates out, readable errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _fixture(tmp_path: Path) -> tuple[Path, Path, Path]:
    db = tmp_path / "database" / "shop" / "shop.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO items VALUES (1, 'apple', 1.5), (2, 'pear', 2.0), (3, 'fig', 0.5);"
    )
    conn.commit()
    conn.close()
    tasks = tmp_path / "tasks.json"
    tasks.write_text(
        json.dumps(
            [
                {"db_id": "shop", "question": "How many items?", "query": "SELECT count(*) FROM items", "task_id": "a"},
                {
                    "db_id": "shop",
                    "question": "Cheap items?",
                    "query": "SELECT name FROM items WHERE price < 1.8",
                    "task_id": "b",
                },
            ]
        )
    )
    candidates = tmp_path / "candidates.jsonl"
    lines = [
        {"task_id": "b", "completion": "```sql\nSELECT name FROM items WHERE price < 2\n```", "sample": 0},
        {"task_id": "a", "completion": "SELECT count(*) FROM items", "sample": 0, "meta": {"t": 0.7}},
        {"task_id": "b", "completion": "SELECT name FROM items", "sample": 1},
        {"task_id": "a", "completion": "SELECT count(*) FROM nosuch", "sample": 1},
        {"task_id": "a", "completion": "no idea", "sample": 2},
    ]
    candidates.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return tasks, tmp_path / "database", candidates


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "verify", "--kind", "sql", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_adds_category_and_correct_in_input_order(tmp_path):
    tasks, db_dir, candidates = _fixture(tmp_path)
    out = tmp_path / "out" / "verdicts.jsonl"
    proc = _run(
        "--tasks",
        str(tasks),
        "--db-dir",
        str(db_dir),
        "--candidates",
        str(candidates),
        "--out",
        str(out),
        "--workers",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    given = [json.loads(line) for line in candidates.read_text().splitlines()]
    assert [{k: v for k, v in w.items() if k not in ("category", "correct")} for w in written] == given
    assert [(w["category"], w["correct"]) for w in written] == [
        ("correct", True),
        ("correct", True),
        ("wrong_answer", False),
        ("runtime_error", False),
        ("syntax_error", False),
    ]
    assert "5 candidates verified, 2 correct" in proc.stderr


def test_missing_database_exits_2_with_a_readable_message(tmp_path):
    tasks, _, candidates = _fixture(tmp_path)
    proc = _run(
        "--tasks",
        str(tasks),
        "--db-dir",
        str(tmp_path / "nowhere"),
        "--candidates",
        str(candidates),
        "--out",
        str(tmp_path / "out.jsonl"),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert str(tmp_path / "nowhere" / "shop" / "shop.sqlite") in proc.stderr and "--db-dir" in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
