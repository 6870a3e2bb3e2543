"""Verified SQL candidates per second, one worker against two, on Spider's department_store database.

    python benchmarks/verify_sql.py [--repeats 50] [--rounds 5] [--tasks FILE --db-dir DIR]

By default the questions are the department_store records of ``../shared/data/spider/dev.json``;
Spider's dev split has none (they are in its train split), so the questions written below for that
database, in Spider's style, are added. Each question gets ``--repeats`` candidates that are its own
gold query (all correct) and as many that are the gold query of another question (mostly wrong),
each made distinct by a trailing comment so that `verify_sql` runs every one of them, plus
``--repeats`` slow candidates (a 4-way join, tens of milliseconds each).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codelutra_nb.kinds.sql.execution import verify_sql  # noqa: E402
from codelutra_nb.kinds.sql.tasks import load_sql_tasks  # noqa: E402

SPIDER = REPO.parent / "shared" / "data" / "spider"
# Written for department_store in Spider's style (Spider's dev split has none); shared with the tests.
DEPARTMENT_STORE_QUESTIONS = [
    (r["question"], r["query"])
    for r in json.loads((REPO / "tests" / "data" / "department_store_questions.json").read_text())
]


def department_store_file(folder: Path) -> Path:
    dev = json.loads((SPIDER / "dev.json").read_text())
    records = [r for r in dev if r["db_id"] == "department_store"]
    print(
        f"dev.json: {len(records)} department_store questions; adding {len(DEPARTMENT_STORE_QUESTIONS)} written for it"
    )
    records += [{"db_id": "department_store", "question": q, "query": sql} for q, sql in DEPARTMENT_STORE_QUESTIONS]
    path = folder / "department_store.json"
    path.write_text(json.dumps(records))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="Spider JSON/JSONL file (default: the department_store questions)")
    parser.add_argument("--db-dir", default=str(SPIDER / "database"), help="Spider 'database' folder")
    parser.add_argument("--repeats", type=int, default=50, help="candidates of each kind per question")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per setting; the best counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tasks_file = args.tasks or department_store_file(Path(tmp))
        tasks = load_sql_tasks(str(tasks_file), db_dir=args.db_dir)
    by_id = {t.task_id: t for t in tasks}
    order = list(tasks)
    random.Random(0).shuffle(order)
    other = {t.task_id: order[(i + 1) % len(order)].reference for i, t in enumerate(order)}  # never its own
    sets = {
        "gold vs gold": [(t.task_id, f"{t.reference} -- sample {k}") for k in range(args.repeats) for t in tasks],
        "gold vs shuffled gold": [
            (t.task_id, f"{other[t.task_id]} -- sample {k}") for k in range(args.repeats) for t in tasks
        ],
    }
    if args.tasks is None:  # tens of milliseconds each: where SQLite, not Python, takes the time
        slow = (
            "SELECT count(*) FROM Customers AS a, Customers AS b, Customers AS c, Customers AS d "
            "WHERE a.customer_name < b.customer_name || c.customer_name || d.customer_id"
        )
        sets["slow (4-way join)"] = [(tasks[0].task_id, f"{slow} -- sample {k}") for k in range(args.repeats)]
    print(f"{len(tasks)} questions, {os.cpu_count()} cores; best of {args.rounds} rounds")
    for name, candidates in sets.items():
        best = {1: float("inf"), 2: float("inf")}
        for _ in range(args.rounds):  # interleaved, so that load from other processes hits both settings alike
            for workers in best:
                start = time.perf_counter()
                verdicts = verify_sql(by_id, candidates, workers=workers, progress=False)
                best[workers] = min(best[workers], time.perf_counter() - start)
        correct = sum(v.correct for v in verdicts)
        rates = {workers: len(candidates) / seconds for workers, seconds in best.items()}
        for workers, rate in rates.items():
            print(
                f"{name:21s} workers={workers}: {rate:7.0f} candidates/s ({len(candidates)} candidates, "
                f"{correct} correct)"
            )
        print(f"{name:21s} workers=2 / workers=1: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
