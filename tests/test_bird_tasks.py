"""BIRD's layout read by the sql kind: records with ``SQL`` and ``evidence`` are detected per record, the evidence goes
into the prompt, and the databases are found as BIRD ships them or with --db-dir."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from codelutra_nb import cli
from codelutra_nb.config import TaskParams
from codelutra_nb.errors import TaskDataError
from codelutra_nb.jsonl import read_jsonl
from codelutra_nb.kinds import load_tasks
from codelutra_nb.prompts import build_messages

BIRD_RECORDS = [
    {"question_id": 0, "db_id": "school", "question": "How many pupils are eligible for free meals?",
     "evidence": "eligible for free meals refers to `Free Meal Count` > 0",
     "SQL": "SELECT COUNT(*) FROM frpm WHERE `Free Meal Count` > 0", "difficulty": "simple"},
    {"question_id": 7, "db_id": "school", "question": "Name the school with the most pupils.", "evidence": "",
     "SQL": "SELECT School FROM frpm ORDER BY Enrollment DESC LIMIT 1", "difficulty": "moderate"},
    # a Spider record in the same file: the layout is detected per record
    {"db_id": "school", "question": "List the schools.", "query": "SELECT School FROM frpm"},
]  # fmt: skip


def _school(db_dir: Path) -> None:
    path = db_dir / "school" / "school.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE frpm (School TEXT, Enrollment INTEGER, `Free Meal Count` INTEGER);
        INSERT INTO frpm VALUES ('Oak', 300, 12), ('Elm', 450, 0), ('Ash', 120, 30);
    """)
    conn.commit()
    conn.close()


@pytest.fixture
def bird_dir(tmp_path) -> Path:
    """BIRD's dev layout: dev.json beside dev_databases/<db_id>/<db_id>.sqlite."""
    _school(tmp_path / "dev_databases")
    (tmp_path / "dev.json").write_text(json.dumps(BIRD_RECORDS))
    return tmp_path


def test_bird_records_are_read_with_their_evidence_in_the_prompt(bird_dir):
    tasks = load_tasks(TaskParams(train_tasks=str(bird_dir / "dev.json")), "train")  # dev_databases found beside it
    assert list(tasks) == ["0", "7", "2"]  # BIRD's question_id; the Spider record by its index
    first, second, spider = tasks.values()
    assert first.reference == BIRD_RECORDS[0]["SQL"] and spider.reference == "SELECT School FROM frpm"
    assert first.evidence == "eligible for free meals refers to `Free Meal Count` > 0" and spider.evidence == ""
    prompt = build_messages(first)[-1]["content"]
    assert "CREATE TABLE frpm" in prompt and "External knowledge: eligible for free meals refers to" in prompt
    assert prompt.index("External knowledge") < prompt.index("How many pupils")
    assert "External knowledge" not in build_messages(second)[-1]["content"]  # empty evidence: no line
    own = build_messages(first, "{evidence} | {question}")[-1]["content"]
    assert (
        own == "eligible for free meals refers to `Free Meal Count` > 0 | How many pupils are eligible for free meals?"
    )


def test_bird_with_db_dir_and_through_verify(bird_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (bird_dir / "dev_databases").rename(elsewhere)
    with pytest.raises(TaskDataError, match=r"BIRD's 'dev_databases'"):
        load_tasks(TaskParams(train_tasks=str(bird_dir / "dev.json")), "train")
    params = TaskParams(train_tasks=str(bird_dir / "dev.json"), db_dir=str(elsewhere))
    assert len(load_tasks(params, "train")) == 3
    candidates = bird_dir / "candidates.jsonl"
    candidates.write_text(
        json.dumps({"task_id": "0", "completion": "```sql\nSELECT count(*) FROM frpm WHERE `Free Meal Count` > 0\n```"})
        + "\n"
        + json.dumps({"task_id": "7", "completion": "SELECT School FROM frpm ORDER BY Enrollment LIMIT 1"})
        + "\n"
    )
    out = bird_dir / "verdicts.jsonl"
    argv = ["verify", "--kind", "sql", "--tasks", str(bird_dir / "dev.json"), "--db-dir", str(elsewhere)]
    assert cli.main([*argv, "--candidates", str(candidates), "--out", str(out), "--workers", "1"]) == 0
    assert [r["category"] for r in read_jsonl(out)] == ["correct", "wrong_answer"]


def test_a_bird_record_without_its_sql_names_both_layouts(bird_dir):
    (bird_dir / "bad.json").write_text(json.dumps([{"db_id": "school", "question": "?", "evidence": "", "SQL": " "}]))
    with pytest.raises(TaskDataError, match=r"record 0 lacks 'SQL'.*a BIRD record 'db_id', 'question', 'SQL'"):
        load_tasks(TaskParams(train_tasks=str(bird_dir / "bad.json"), db_dir=str(bird_dir / "dev_databases")), "train")
