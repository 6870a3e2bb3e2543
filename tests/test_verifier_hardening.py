"""What a hostile candidate must not get past (issue 10): IPC, keyrings, memory across processes, forged reports,
user namespaces, swapped builtins, hidden folders, huge completions, slow LIKE steps, wide rows, bad candidate files.

Each test fails on the verifier as it was before this hardening; docs/sandbox.md maps each claim to its test.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest
from conftest import REPO

from codelutra_nb.kinds.python.sandbox import isolation_report, verify_python
from codelutra_nb.kinds.python.tasks import PythonTask
from codelutra_nb.kinds.sql import SQLTask
from codelutra_nb.kinds.sql.execution import run_query, verify_sql
from codelutra_nb.verdicts import Category, Verdict

CORRECT, WRONG, RUNTIME, SYNTAX, TIMEOUT = (
    Category.CORRECT,
    Category.WRONG_ANSWER,
    Category.RUNTIME_ERROR,
    Category.SYNTAX_ERROR,
    Category.TIMEOUT,
)
TASK = PythonTask(task_id="t", question="Return one.", tests="assert one() == 1")
GOOD = "def one():\n    return 1\n"
SYSCALL = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}.get(
    os.uname().machine
)


@pytest.fixture(scope="module")
def features() -> dict[str, bool]:
    return isolation_report()


def run(*programs: str, task: PythonTask = TASK, **kwargs) -> list[Verdict]:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("workers", 1)  # one worker: the candidates follow each other in the same sandbox user
    return verify_python({task.task_id: task}, [(task.task_id, p) for p in programs], **kwargs)


def need(features: dict[str, bool], feature: str) -> None:
    if not features[feature]:
        pytest.skip(f"{feature!r} is off here (reduced mode: not root, or no namespaces); docs/sandbox.md")


# ---- Python: what one candidate leaves, the next cannot find -----------------------------------------------------


def test_shared_memory_and_message_queues_die_with_the_candidate(features):
    need(features, "ipc namespace")
    key = 0x5EED0000 + os.getpid() % 0xFFFF
    make = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"assert libc.shmget({key}, 1 << 20, 0o1666) >= 0 and libc.msgget({key + 1}, 0o1666) >= 0\n"
    )
    find = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"assert libc.shmget({key}, 0, 0o666) == -1 and libc.msgget({key + 1}, 0o666) == -1, 'left by the last one'\n"
    )
    assert run(make + GOOD, find + GOOD) == [Verdict(CORRECT), Verdict(CORRECT)]
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.shmget(key, 0, 0o666) == -1 and libc.msgget(key + 1, 0o666) == -1  # nor on the host


def test_a_key_in_the_user_keyring_does_not_survive(features):
    need(features, "fresh keyrings")
    add = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nL = ctypes.c_long\n"
        f"assert libc.syscall(L({SYSCALL['add_key']}), b'user', b'codelutra-test', b'secret', L(6), L(-4)) > 0\n"
    )
    look = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nL = ctypes.c_long\n"
        "buf = ctypes.create_string_buffer(64)\n"
        f"assert libc.syscall(L({SYSCALL['keyctl']}), L(11), L(-4), buf, L(64)) == 0, 'a key of the last candidate'\n"
    )
    assert run(add + GOOD, look + GOOD) == [Verdict(CORRECT), Verdict(CORRECT)]


def test_memory_is_bounded_across_processes_and_memfd(features):
    need(features, "memory cgroup")
    three_processes = (
        "import os, time\npids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
        "        block = b'x' * (600 << 20)\n        time.sleep(2)\n        os._exit(0)\n    pids.append(pid)\n"
        "for pid in pids:\n    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, 'a process was killed'\n"
    )
    memfds = (  # RLIMIT_FSIZE stops one memfd at 64 MB; 24 of them hold 1.5 GB
        "import os\nchunk = b'x' * (16 << 20)\nfds = []\nfor i in range(24):\n    fds.append(os.memfd_create(str(i)))\n"
        "    for _ in range(4):\n        os.write(fds[-1], chunk)\n"
    )
    small = "import os\nif os.fork() == 0:\n    block = b'x' * (200 << 20)\n    os._exit(0)\nos.wait()\n"
    verdicts = run(three_processes + GOOD, memfds + GOOD, small + GOOD, timeout_s=20.0, memory_mb=1024)
    assert [v.category for v in verdicts] == [RUNTIME, RUNTIME, CORRECT], verdicts


def test_creating_a_user_namespace_is_refused_but_threads_and_forks_work(features):
    need(features, "no user namespaces")
    program = (
        "import ctypes, errno, os, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.unshare(0x10000000) == -1 and ctypes.get_errno() == errno.EPERM\n"
        "done = []\nt = threading.Thread(target=done.append, args=(1,))\nt.start()\nt.join()\nassert done == [1]\n"
        "pid = os.fork()\nif pid == 0:\n    os._exit(7)\nassert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7\n"
    )
    assert run(program + GOOD) == [Verdict(CORRECT)]


# ---- Python: a candidate can only ever produce its own verdict ---------------------------------------------------


def test_forged_reports_fail_only_their_own_candidate():
    forged = [
        "import os\nos.write(3, b'[1, 2]\\n')\nos._exit(121)\n",
        'import os\nos.write(3, b\'{"setup": "x", "error": "boom"}\\n\')\nos._exit(121)\n',
        "import os\nos.write(3, b'[' * 100000 + b'\\n')\nos._exit(0)\n",
        'import os\nos.write(3, b\'{"category": "correct", "message": ""}\\n\')\nos._exit(0)\n',
    ]
    verdicts = run(GOOD, *(f + GOOD for f in forged), GOOD, "def one():\n    return 2\n")
    assert [v.category for v in verdicts] == [CORRECT, RUNTIME, RUNTIME, RUNTIME, RUNTIME, CORRECT, WRONG]


def test_replacing_compile_or_exec_does_not_skip_the_tests():
    cheat = "import builtins\nreal = builtins.compile\nbuiltins.compile = lambda s, f, m, *a, **k: real('pass', f, m)\n"
    cheat2 = "import builtins\nbuiltins.exec = lambda *a, **k: None\n"
    wrong = "def one():\n    return 2\n"
    assert [v.category for v in run(cheat + wrong, cheat2 + wrong)] == [WRONG, WRONG]


def test_home_caches_working_directory_and_task_files_are_hidden(features, monkeypatch):
    need(features, "allow-listed filesystem")
    folder = Path("/var/tmp") / f"codelutra-tasks-{uuid.uuid4().hex}"  # readable by all, and not under /tmp
    folder.mkdir(mode=0o755)
    try:
        source = folder / "tasks.jsonl"
        source.write_text('{"secret": "the reference solution"}\n')
        source.chmod(0o644)
        task = PythonTask(task_id="t", question="?", tests="assert one() == 1", source=str(source))
        monkeypatch.chdir(REPO)
        reads = {
            "task file": f"open({str(source)!r}).read()\n",
            "working directory": f"open({str(REPO / 'pyproject.toml')!r}).read()\n",
        }
        verdicts = run(*(code + GOOD for code in reads.values()), task=task)
        assert [v.category for v in verdicts] == [RUNTIME, RUNTIME]
        assert all("No such file" in v.message or "Permission" in v.message for v in verdicts), verdicts
        assert source.read_text().startswith('{"secret"') and run(GOOD, task=task) == [Verdict(CORRECT)]
    finally:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


def test_a_10_mb_prose_completion_is_judged_quickly_through_the_cli(tmp_path):
    """Liveness, not speed: the old quadratic prose stripping did not finish a 10 MB completion in 60 s."""
    tasks = tmp_path / "mbpp.jsonl"
    tasks.write_text(json.dumps({"task_id": 1, "text": "one", "code": GOOD, "test_list": ["assert one() == 1"]}) + "\n")
    prose = "This explains the idea in words.\n" * 320_000
    lines = [
        {"task_id": 1, "completion": prose},
        {"task_id": 1, "completion": GOOD + prose},
        {"task_id": 1, "completion": "def f(:\n" + "(" * 10_000_000},
    ]
    assert _verify_through_cli(tmp_path, tasks, lines, timeout=120) == ["syntax_error", "correct", "syntax_error"]


def _verify_through_cli(tmp_path, tasks, lines: list[dict], *, timeout: float) -> list[str]:
    """``python -m codelutra_nb verify`` on candidate ``lines`` of ``tasks``; the category of each."""
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "verify", "--kind", "python", "--tasks", str(tasks), "--candidates",
         str(candidates), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line)["category"] for line in out.read_text().splitlines()]


def test_100_000_characters_of_blank_lines_as_a_humaneval_completion_are_judged_through_the_cli(tmp_path):
    """Liveness, not speed: ``program_for``'s ``^\\s*def`` search was quadratic in blank lines (7.6 s for 16,000;
    a 100,000-character completion held the verifier for minutes)."""
    record = {
        "task_id": "HumanEval/0",
        "entry_point": "inc",
        "prompt": 'def inc(x):\n    """Add one."""\n',
        "canonical_solution": "    return x + 1\n",
        "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    }
    tasks = tmp_path / "humaneval.jsonl"
    tasks.write_text(json.dumps(record) + "\n")
    lines = [
        {"task_id": "HumanEval/0", "completion": " \n" * 49_990 + "    return x + 1\n"},  # a body after blank lines
        {"task_id": "HumanEval/0", "completion": "\t\n" * 49_980 + "def inc(x):\n    return x + 1\n"},
        {"task_id": "HumanEval/0", "completion": " \n" * 50_000},  # nothing else: no code
    ]
    assert _verify_through_cli(tmp_path, tasks, lines, timeout=60) == ["correct", "correct", "syntax_error"]


# ---- SQL -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "shop" / "shop.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, note TEXT);
        INSERT INTO items VALUES (1, 'apple', 'a;b'), (2, 'pear', ''), (3, 'fig', 'x');
    """)
    conn.commit()
    conn.close()
    return path


def test_a_semicolon_in_a_literal_and_a_blank_line_in_a_fenced_query_are_judged_correct(db):
    task = SQLTask(task_id="t", question="?", reference="SELECT name FROM items WHERE note = 'a;b'", db_id="shop",
                   db_path=str(db), schema="")  # fmt: skip
    completions = [
        "SELECT name FROM items WHERE note = 'a;b';",
        "```sql\nSELECT name\nFROM items\n\nWHERE note = 'a;b'\n```",
        "SELECT name FROM items -- a comment; with a semicolon\nWHERE note = 'a;b'",
        "SELECT name FROM items WHERE note = 'a;b'\n\nThis returns the apple.",
    ]
    verdicts = verify_sql({"t": task}, [("t", c) for c in completions], progress=False)
    assert [v.category for v in verdicts] == [CORRECT] * 4, verdicts


def test_like_steps_cannot_hold_the_verifier_past_the_limit(db):
    rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) "
    subject = "(replace(hex(zeroblob(450000)), '0', 'a') || x)"  # a 0.9 MB string per row
    allowed = "%" + "a_" * 99 + "b"  # 200 characters: about 0.2 s per LIKE over 0.9 MB here
    started = time.monotonic()
    heavy = run_query(db, f"{rows}SELECT count(*) FROM c WHERE {subject} LIKE '{allowed}'", timeout_s=2.0)
    elapsed = time.monotonic() - started
    assert heavy.error == TIMEOUT and elapsed < 6.0, (heavy, elapsed)  # the limit itself under test: 3x is generous
    longer = "%" + "a_" * 5000 + "b"  # 8 s per LIKE over 1 MB before this limit existed
    refused = run_query(db, f"{rows}SELECT count(*) FROM c WHERE {subject} LIKE '{longer}'", timeout_s=2.0)
    assert refused.error == RUNTIME and "pattern too complex" in refused.message


def test_wide_rows_are_fetched_one_at_a_time_against_the_byte_cap(db):
    blobs = ", ".join(f"zeroblob(1000000) AS b{i}" for i in range(8))  # 8 MB per row
    query = f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200) SELECT {blobs} FROM c"
    tracemalloc.start()
    try:
        result = run_query(db, query, max_bytes=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.error == RUNTIME and "larger than 16 MiB" in result.message
    assert peak < 64 << 20, f"{peak >> 20} MB held while fetching"  # fetchmany(64) held 64 rows: 512 MB
    columns = ", ".join(f"{i} AS c{i}" for i in range(101))
    too_wide = run_query(db, f"SELECT {columns}")
    assert too_wide.error == RUNTIME and "too many columns" in too_wide.message


# ---- the candidates file ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ({"task_id": 1, "completion": None}, "record 1: 'completion' must be a string (the raw model output)"),
        ({"task_id": 1, "completion": 42}, "record 1: 'completion' must be a string (the raw model output), not int"),
        ({"task_id": [1], "completion": "x"}, "record 1: 'task_id' must be a string or an integer, not list"),
    ],
)  # fmt: skip
def test_bad_candidate_lines_are_named(tmp_path, line, message):
    tasks = tmp_path / "mbpp.jsonl"
    tasks.write_text(json.dumps({"task_id": 1, "text": "one", "code": GOOD, "test_list": ["assert one() == 1"]}) + "\n")
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text(json.dumps(line) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "verify", "--kind", "python", "--tasks", str(tasks), "--candidates",
         str(candidates), "--out", str(tmp_path / "out.jsonl")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{candidates}, {message}" in proc.stderr
