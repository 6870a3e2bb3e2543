"""``python -m codelutra_nb verify --kind python``: each candidate line repeated in order, with its verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


HUMANEVAL = {
    "task_id": "HumanEval/0",
    "entry_point": "inc",
    "prompt": 'def inc(x: int) -> int:\n    """Add one."""\n',
    "canonical_solution": "    return x + 1\n",
    "test": "\n\ndef check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n",
}
MBPP = {
    "task_id": 11,
    "text": "Write a function to double a number.",
    "code": "def double(x):\n    return 2 * x",
    "test_list": ["assert double(2) == 4", "assert double(0) == 0"],
    "test_setup_code": "",
    "challenge_test_list": [],
}
KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"


def _verify(
    tmp_path: Path, task: dict, lines: list[dict]
) -> tuple[subprocess.CompletedProcess, list[dict], list[dict]]:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(task) + "\n")
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out" / "verdicts.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "codelutra_nb",
            "verify",
            "--kind",
            "python",
            "--tasks",
            str(tasks),
            "--candidates",
            str(candidates),
            "--out",
            str(out),
            "--timeout",
            "3",
            "--workers",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    return proc, written, lines


def _check_echo(written: list[dict], given: list[dict]) -> None:
    assert [{k: v for k, v in w.items() if k not in ("category", "correct")} for w in written] == given
    assert all(w["correct"] == (w["category"] == "correct") for w in written)


def test_humaneval_layout(tmp_path):
    lines = [
        {"task_id": "HumanEval/0", "completion": "    return x + 1\n", "sample": 0},
        {
            "task_id": "HumanEval/0",
            "completion": "```python\ndef inc(x):\n    return x + 2\n```",
            "sample": 1,
            "meta": {"temperature": 1.0},
        },
        {"task_id": "HumanEval/0", "completion": KILL_PARENT + "def inc(x):\n    return x + 1\n", "sample": 2},
        {"task_id": "HumanEval/0", "completion": "Here:\n```python\ndef inc(x):\n    return x + 1\n```", "sample": 3},
        {"task_id": "HumanEval/0", "completion": "    return x +\n", "sample": 4},
    ]
    proc, written, given = _verify(tmp_path, HUMANEVAL, lines)
    _check_echo(written, given)
    assert [w["category"] for w in written] == ["correct", "wrong_answer", "runtime_error", "correct", "syntax_error"]
    assert "5 candidates verified, 2 correct" in proc.stderr


def test_mbpp_layout(tmp_path):
    lines = [
        {"task_id": "11", "completion": "def double(x):\n    return x * 2\n"},
        {"task_id": 11, "completion": "import sys\nsys.exit(0)\n"},
        {"task_id": "11", "completion": KILL_PARENT + "def double(x):\n    return x + x\n"},
        {"task_id": "11", "completion": "while True:\n    pass\n", "extra": [1, 2]},
        {"task_id": "11", "completion": "def double(x):\n    return x + x\n"},
    ]
    proc, written, given = _verify(tmp_path, MBPP, lines)
    _check_echo(written, given)
    assert [w["category"] for w in written] == ["correct", "runtime_error", "runtime_error", "timeout", "correct"]
    assert "5 candidates verified, 2 correct" in proc.stderr
