import random

from codelutra_nb.kinds.sql import SQLTask
from codelutra_nb.pairing import Candidate, build_preferences, is_degenerate, pair_task


def _task(task_id: str, reference: str | None = "SELECT count(*) FROM t") -> SQLTask:
    return SQLTask(
        task_id=task_id,
        question=f"question {task_id}?",
        reference=reference,
        db_id="db",
        db_path="db.sqlite",
        schema="CREATE TABLE t (a INT)",
    )


def _sample(task_id: str, completion: str, category: str) -> dict:
    return {"task_id": task_id, "completion": completion, "category": category}


def test_k_pairs_with_replacement_only_when_a_side_is_short():
    rng = random.Random(0)
    correct = [Candidate(f"c{i}", "correct") for i in range(2)]
    failed = [Candidate(f"f{i}", "wrong_answer") for i in range(6)]
    pairs = pair_task(correct, failed, 4, rng)
    assert len(pairs) == 4
    assert {c.answer for c, _ in pairs} <= {"c0", "c1"}  # 2 < K: drawn with replacement
    assert len({r.answer for _, r in pairs}) == 4  # 6 >= K: distinct
    assert pair_task(correct, [], 4, rng) == [] and pair_task([], failed, 4, rng) == []


def test_degenerate_outputs_are_detected():
    assert is_degenerate("SELECT a FROM t WHERE " + "AND b = 1 " * 6)
    assert not is_degenerate("SELECT a, b, c FROM t WHERE a = 1 AND b = 2 ORDER BY c")


def test_preference_dataset_format_and_rules():
    tasks = {t: _task(t) for t in ("1", "2", "3", "4")}
    samples = [
        _sample("1", "```sql\nSELECT count(*) FROM t;\n```", "correct"),
        _sample("1", "SELECT a FROM t", "wrong_answer"),
        _sample("1", "I don't know", "syntax_error"),
        _sample("1", "SELECT count(*) " + "FROM t JOIN t " * 8, "runtime_error"),  # degenerate: dropped
        _sample("2", "SELECT b FROM t", "runtime_error"),  # no correct sample: gold becomes chosen
        _sample("3", "SELECT count(*) FROM t", "correct"),  # nothing failed: no pair
        _sample("4", "SELECT 1", "wrong_answer"),
    ]
    tasks["4"] = _task("4", reference=None)  # no correct, no gold: skipped
    data, stats = build_preferences(tasks, samples, k=3, no_correct="gold", iteration=2, seed=0)
    assert stats == {
        "tasks": 4,
        "paired_tasks": 2,
        "gold_chosen_tasks": 1,
        "degenerate": 1,
        "skipped_no_correct": 1,
        "skipped_no_failed": 1,
        "pairs": 6,
    }
    assert set(data.column_names) >= {"prompt", "chosen", "rejected", "task_id", "iteration", "rejected_category"}
    row = data[0]
    assert (
        row["prompt"][-1]["role"] == "user"
        and "Write an SQLite query that answers: question 1?" in row["prompt"][-1]["content"]
    )
    assert row["chosen"] == [{"role": "assistant", "content": "SELECT count(*) FROM t;"}]  # extracted, canonical form
    rejected = {r[0]["content"] for r in data.filter(lambda r: r["task_id"] == "1")["rejected"]}
    assert rejected == {"SELECT a FROM t;", "I don't know"}
    gold_rows = data.filter(lambda r: r["task_id"] == "2")
    assert set(gold_rows["chosen_source"]) == {"gold"} and len(gold_rows) == 3
    assert set(data["iteration"]) == {2}


def test_zero_correct_everywhere_with_skip_gives_no_pairs():
    tasks = {t: _task(t) for t in ("1", "2")}
    samples = [_sample(t, "nonsense", "syntax_error") for t in tasks for _ in range(3)]
    data, stats = build_preferences(tasks, samples, k=2, no_correct="skip", iteration=1, seed=0)
    assert len(data) == 0 and stats["skipped_no_correct"] == 2 and "prompt" in data.column_names


def test_pairing_is_deterministic_under_a_seed():
    tasks = {"1": _task("1")}
    samples = [_sample("1", f"SELECT {i} FROM t", "correct" if i < 3 else "wrong_answer") for i in range(9)]
    first = build_preferences(tasks, samples, k=4, no_correct="skip", iteration=1, seed=7)[0]
    again = build_preferences(tasks, samples, k=4, no_correct="skip", iteration=1, seed=7)[0]
    other = build_preferences(tasks, samples, k=4, no_correct="skip", iteration=1, seed=8)[0]
    assert first.to_list() == again.to_list() and first.to_list() != other.to_list()
