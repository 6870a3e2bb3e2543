"""Running untrusted candidate Python programs against their tests: the sandbox and the batch verifier.

WHAT THIS SANDBOX IS. Each candidate runs in its own process, forked from a warm "zygote"
process (one per worker) that has already imported the common standard library, and never in
the verifier's process. When the verifier runs as root on Linux (the full mode; `isolation_report`
says what is on), each zygote lives in its own PID, network and mount namespaces, and every
candidate process:

* runs as an unprivileged user id of its own worker (see `_sandbox_uid`: no passwd entry,
  no supplementary groups, ``no_new_privs`` set, so setuid binaries such as ``sudo`` gain nothing);
* has rlimits on CPU time (timeout + 1 s), address space (``memory_mb``), file size (64 MiB),
  open files (256), core dumps (none) and processes (``RLIMIT_NPROC`` = 64, enforced because
  the user is not root: a fork bomb stops there), and shares its worker's cgroup, which bounds
  the memory of all its processes, memfds and files together to ``memory_mb`` and its processes
  to 64 (where a cgroup can be made);
* has an IPC namespace of its own (SysV and POSIX IPC objects die with it), a new session
  keyring and user keyrings cleared of whatever an earlier candidate of its uid put there, and
  cannot create user namespaces (a seccomp filter on the zygote);
* is killed on the wall-clock timeout, and afterwards every process left in its worker's PID
  namespace is killed, so nothing it forked, daemonised or moved to another session outlives it;
* has no network: an empty network namespace with a down loopback (no internet, no host
  service, no listener on the host's 127.0.0.1, no abstract unix socket of the host);
* sees the whole filesystem read-only except a fresh directory of its own (its cwd, ``HOME`` and
  ``TMPDIR``, on a 256 MiB tmpfs private to the worker, emptied after each candidate); ``/tmp``,
  ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are not writable, ``/tmp`` is the private tmpfs,
  ``/proc`` shows only its own namespace, and directories other users cannot enter (``/root``,
  mode 0700) and the hidden ones (the verifier's home, Hugging Face cache and working directory,
  the task files' folders) show only the Python installation's directories, bind-mounted
  read-only;
* gets a minimal allow-listed environment (``PATH``, locale, ``HOME``/``TMPDIR``,
  ``PYTHONHASHSEED=0``, one thread for BLAS): no ``HF_TOKEN``, no ``*_KEY``, nothing inherited;
* writes stdout and stderr to a pipe the zygote drains, keeping the last 4 KiB (for messages);
* counts as correct only when the harness, after the last test passed, writes a random nonce
  made for this candidate together with its pid, so ``sys.exit(0)``, ``exit()`` or ``os._exit(0)``
  before or during the tests is a runtime error; program and tests are compiled before it runs.
The verifier survives what a candidate does (short of a kernel exploit): a zygote that dies,
stops answering or sends anything malformed is killed and restarted, and its candidate is reported
as a runtime error; whatever a candidate writes can only ever decide its own verdict.

WHAT IT DOES NOT PROTECT AGAINST. It is not a virtual machine or a container runtime, and not a
security boundary against code written to attack it: candidates share the kernel with the host,
so a kernel exploit escapes; the seccomp filter refuses only user namespaces. A candidate can read
every world-readable file outside the hidden folders (other source trees and data sets, ``/etc``),
use the CPU for its timeout and memory up to its limits (without a cgroup: up to 64 processes of
``memory_mb`` each, plus up to 256 MiB of files on the tmpfs, which is RAM), and connect to
filesystem unix sockets its user may write (``/var/run/docker.sock`` usually is not). Its verdict
can be fooled by a program built to cheat: it runs in the same interpreter as its tests, so it
can monkeypatch them, return objects whose ``__eq__`` is always true, or find the nonce in
memory. ``multiprocessing`` locks and queues fail (``/dev/shm`` is read-only), and writing
outside its directory fails (by design).

REDUCED MODES. Not root, or namespaces not permitted (e.g. a container without
``CAP_SYS_ADMIN``): each missing piece is skipped and `verify_python` warns once, naming what
is off. Without root there is no separate user: the candidate runs as you, can read your files,
kill your processes (the verifier included), write wherever you can, and reach the network;
the rlimits (``RLIMIT_NPROC`` then counts all your processes: 64 more than you had), the
timeout, the process-group kill, the stripped environment, the temp dir and the nonce still
apply. Without a PID namespace, processes that leave the candidate's process group are hunted by
user id (root) or may survive (not root). Without a mount namespace, the temp dirs are on the
host's ``/tmp`` and the world-writable directories stay writable.

See docs/sandbox.md for the same list and the tests that check each claim.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import math
import os
import resource
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

if __package__:  # the verifier. A zygote loads this file on its own (see _BOOT) and uses only the standard library,
    # so that every fork copies as little as possible.
    import queue
    import subprocess
    import threading
    import warnings

    from ...errors import CodelutraError, TaskDataError
    from ...progress import progress_bar
    from ...verdicts import Category, Verdict
    from ..base import MAX_COMPLETION_CHARS, check_task_ids
    from .tasks import PythonTask, check_code, program_for, syntax_problem

    class SandboxError(CodelutraError, RuntimeError):
        """The sandbox itself cannot run (zygotes do not start, a child cannot be set up)."""


__all__ = ["SandboxError", "apply_rlimits", "isolation_report", "sandbox_env", "verify_python"]

_UID_BASE, _UID_END = 480_000, 524_288  # sandbox user ids (65536-524287 is unused by convention)
_NPROC = 64  # processes (threads count too) per candidate user
_FSIZE_MB = 64  # largest file a candidate may write
_TMPFS_MB = 256  # all files of a worker's candidates together (full mode)
_NOFILE = 256
_OUTPUT_TAIL = 4096  # bytes of stdout/stderr kept per candidate
_MESSAGE_CHARS = 400
_RESPONSE_GRACE_S = 15.0  # how long past the timeout the verifier waits for a zygote before restarting it
_START_ATTEMPTS = 3
_ISOLATE = True  # tests set this to False to exercise the reduced mode
# what MBPP and HumanEval programs import most (re, math, collections, heapq, itertools, typing...) and the harness
_PRELOAD = (
    "re",
    "math",
    "collections",
    "heapq",
    "itertools",
    "functools",
    "bisect",
    "string",
    "operator",
    "array",
    "cmath",
    "copy",
    "typing",
    "traceback",
    "types",
)
_SETUP_FAILED = 121

# Linux constants (x86_64 and arm64 alike, except the syscall numbers in _SYSCALLS)
_CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
_CLONE_NEWIPC, _CLONE_NEWUSER = 0x08000000, 0x10000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
_SYS_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 1, 38, 22, 2
_KEYCTL_JOIN_SESSION_KEYRING, _KEYCTL_CLEAR, _KEY_SPEC_USER_KEYRING, _KEY_SPEC_USER_SESSION_KEYRING = 1, 7, -4, -5
# per architecture: the seccomp audit arch, and the numbers of unshare, clone, clone3, keyctl
_SYSCALLS = {
    "x86_64": {"arch": 0xC000003E, "unshare": 272, "clone": 56, "clone3": 435, "keyctl": 250},
    "aarch64": {"arch": 0xC00000B7, "unshare": 97, "clone": 220, "clone3": 435, "keyctl": 219},
}.get(os.uname().machine)
_CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids")  # cgroup v2, else v1 hierarchies


# ---------------------------------------------------------------------------------------------
# The verifier (parent side)
# ---------------------------------------------------------------------------------------------


def verify_python(
    tasks: Mapping[str, PythonTask],
    candidates: Sequence[tuple[str, str]],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    workers: int | None = None,
    progress: bool = True,
) -> list[Verdict]:
    """Run each candidate against its task's tests in the sandbox; one `Verdict` per candidate, in input order.

    Args:
        tasks: Tasks by ``task_id``.
        candidates: ``(task_id, raw model completion)`` pairs; the program is built with `program_for`.
        timeout_s: Wall-clock limit per program (the CPU-time limit is one second more).
        memory_mb: Address-space limit per process.
        workers: Programs run at once; None: one per available core.
        progress: Show a tqdm progress bar.

    Raises:
        TaskDataError: A candidate names a task id not in ``tasks``, or a task's tests do not compile
            (checked before anything runs).
        SandboxError: The sandbox cannot start here.
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError(f"timeout_s={timeout_s!r} and memory_mb={memory_mb!r} must both be > 0.")
    check_task_ids(tasks, candidates)
    _check_tests_compile(tasks, {tid for tid, _ in candidates})

    verdicts: list[Verdict | None] = [None] * len(candidates)
    jobs: list[tuple[int, str, str]] = []
    for index, (tid, completion) in enumerate(candidates):
        task = tasks[tid]
        program = program_for(task, completion[:MAX_COMPLETION_CHARS])
        if program is None:
            verdicts[index] = Verdict(Category.SYNTAX_ERROR, "no code found in the completion")
            continue
        problem = syntax_problem(program)
        if problem is not None:
            verdicts[index] = Verdict(Category.SYNTAX_ERROR, problem[:_MESSAGE_CHARS])
            continue
        solution = "" if task.layout == "ds1000" else program
        jobs.append((index, solution, check_code(task, program)))

    with progress_bar(total=len(candidates), disable=not progress, desc="verify python", unit="prog") as bar:
        bar.update(len(candidates) - len(jobs))
        if jobs:
            limits = _Limits(float(timeout_s), int(memory_mb), _hidden_folders(tasks[tid] for tid, _ in candidates))
            n_workers = max(1, min(workers or _available_cores(), len(jobs)))
            for index, verdict in _run_pool(jobs, limits, n_workers):
                verdicts[index] = verdict
                bar.update(1)
    return [v for v in verdicts if v is not None]


def isolation_report() -> dict[str, bool]:
    """Which protections are on for this process here (starts one zygote): a reduced mode has some False.

    Keys: ``separate user``, ``network namespace``, ``mount namespace``, ``read-only filesystem``, ``pid namespace``,
    ``ipc namespace``, ``fresh keyrings``, ``memory cgroup``, ``hidden folders``, ``no user namespaces``.
    """
    worker = _Worker(0, _Limits(timeout_s=1.0, memory_mb=256))
    try:
        worker._start()
        assert worker.features is not None
        return dict(worker.features)
    finally:
        worker.close()


def _hidden_folders(tasks) -> tuple[str, ...]:
    """What candidates must not read: the verifier's home and Hugging Face cache, its working directory (the
    project, its runs and data) and the folders of the task files (they hold the reference solutions)."""
    home = os.path.expanduser("~")
    folders = {home, os.environ.get("HF_HOME") or os.path.join(home, ".cache", "huggingface"), os.getcwd()}
    folders |= {os.path.dirname(os.path.abspath(task.source)) for task in tasks if task.source}
    return tuple(sorted(folders))


class _Limits(NamedTuple):
    timeout_s: float
    memory_mb: int
    hidden: tuple[str, ...] = ()  # folders the candidates must not see (home, caches, task files)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_tests_compile(tasks: Mapping[str, PythonTask], ids: set[str]) -> None:
    for tid in sorted(ids):
        problem = syntax_problem(check_code(tasks[tid], "pass"))
        if problem is not None:
            raise TaskDataError(
                f"The tests of task {tid!r} do not compile ({problem}); "
                "fix the task record (test_list / test / code_context)."
            )


def _run_pool(jobs: list[tuple[int, str, str]], limits: _Limits, n_workers: int):
    """Yield ``(index, verdict)`` as the workers finish jobs."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    done: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    pool = [_Worker(i, limits) for i in range(n_workers)]

    def work(worker: _Worker) -> None:
        try:
            while not stop.is_set():
                try:
                    index, program, tests = todo.get_nowait()
                except queue.Empty:
                    return
                done.put((index, worker.run(program, tests)))
        except BaseException as exc:  # reported to the caller's thread
            done.put((None, exc))
        finally:
            worker.close()

    threads = [threading.Thread(target=work, args=(w,), name=f"sandbox-worker-{w.index}", daemon=True) for w in pool]
    for t in threads:
        t.start()
    try:
        for _ in range(len(jobs)):
            index, result = done.get()
            if index is None:
                raise result
            yield index, result
    finally:
        stop.set()
        for t in threads:
            t.join()
    _warn_if_reduced(pool)


_warned: set[str] = set()


def _warn_if_reduced(pool: list[_Worker]) -> None:
    for worker in pool:
        if worker.features is None:
            continue
        off = [name for name, on in worker.features.items() if not on]
        key = ",".join(off)
        if off and key not in _warned:
            _warned.add(key)
            warnings.warn(
                f"The Python sandbox runs in a reduced mode here: {', '.join(off)} unavailable "
                "(see codelutra_nb/kinds/python/sandbox.py, REDUCED MODES). Run the verifier as root on "
                "Linux with namespaces permitted for full isolation.",
                RuntimeWarning,
                stacklevel=3,
            )


_FILE = os.path.abspath(__file__)
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(_FILE))))
# Started as `python -S -c _BOOT config`: no site (.pth files) and not the package, only this file.
_BOOT = (
    "import sys, importlib.util as u; s = u.spec_from_file_location('codelutra_sandbox_zygote', {file!r}); "
    "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m); m._zygote_main(sys.argv[1])"
)


def _candidate_path() -> list[str]:
    """The verifier's import path (site-packages included) minus its working directory and this project."""
    drop = {"", os.getcwd(), _ROOT}
    return [p for p in sys.path if p not in drop and os.path.abspath(p) not in drop]


def sandbox_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a sandboxed program gets (an allow-list; nothing is inherited)."""
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",  # same set/dict order in every worker: verdicts do not depend on the worker count
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.update(extra or {})
    return env


class _Worker:
    """One zygote process and the thread-side protocol to it (JSON lines over its stdin/stdout)."""

    def __init__(self, index: int, limits: _Limits) -> None:
        self.index = index
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.features: dict[str, bool] | None = None
        self.workroot: str | None = None
        self.cgroups: list[str] = []
        self._buffer = b""

    def run(self, program: str, tests: str) -> Verdict:
        if self.proc is None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        request = (json.dumps({"program": program, "tests": tests}) + "\n").encode()
        try:
            _write_all(self.proc.stdin.fileno(), request)
            line = self._read_line(self.limits.timeout_s + _RESPONSE_GRACE_S)
        except (BrokenPipeError, EOFError):
            self.close(graceful=False)
            return Verdict(
                Category.RUNTIME_ERROR,
                "the sandbox worker died while running this program (did it kill its parent process?)",
            )
        except TimeoutError:
            self.close(graceful=False)
            return Verdict(
                Category.RUNTIME_ERROR,
                "the sandbox worker stopped responding while running this program "
                "(did it stop its parent process?); the worker was restarted",
            )
        try:
            reply = json.loads(line)
            if "setup" in reply:  # the host, not the candidate: nothing of the candidate had run yet
                raise SandboxError(f"The Python sandbox failed to set up a program: {reply['setup']}")
            verdict = Verdict(Category(reply["category"]), str(reply["message"]))
            if reply.get("restart"):
                self.close(graceful=False)
            return verdict
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            self.close(graceful=False)
            return Verdict(
                Category.RUNTIME_ERROR,
                f"the sandbox worker sent a malformed reply ({line[:80]!r}); the worker was restarted",
            )

    def _start(self) -> None:
        full = _ISOLATE and os.geteuid() == 0
        if full and not self.cgroups:
            self.cgroups = _make_cgroups(f"codelutra-{os.getpid()}-{self.index}", self.limits.memory_mb, _NPROC)
        config = {
            "uid": _sandbox_uid(self.index),
            "isolate": _ISOLATE,
            "timeout_s": self.limits.timeout_s,
            "memory_mb": self.limits.memory_mb,
            "path": _candidate_path(),
            "cgroups": self.cgroups,
            "hidden": self.limits.hidden,
        }
        last = ""
        for _ in range(_START_ATTEMPTS):
            with tempfile.TemporaryFile() as errlog:  # the zygote's own stderr (its candidates' goes to a pipe)
                self.proc = subprocess.Popen(
                    [sys.executable, "-S", "-c", _BOOT.format(file=_FILE), json.dumps(config)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errlog,
                    cwd="/",
                    env=sandbox_env(),
                    start_new_session=True,
                    close_fds=True,
                )
                self._buffer = b""
                try:
                    hello = json.loads(self._read_line(60.0))
                    self.features = hello["features"]
                    # a temp root on the host's filesystem (none when the zygote has its own tmpfs at its /tmp)
                    self.workroot = None if self.features["mount namespace"] else hello["workroot"]
                    return
                except (EOFError, TimeoutError, ValueError, KeyError) as exc:
                    self.close(graceful=False)
                    errlog.seek(0)
                    last = f"{type(exc).__name__} {exc}; its stderr: {errlog.read()[-2000:].decode(errors='replace')}"
        raise SandboxError(
            f"The Python sandbox's worker process did not start ({_START_ATTEMPTS} attempts): {last}. "
            "Check that this interpreter runs (python -c pass) and that /tmp is writable."
        )

    def _read_line(self, timeout: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from the sandbox worker")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError("the sandbox worker exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def close(self, graceful: bool = True) -> None:
        """Stop the zygote: by EOF on its stdin when ``graceful`` (it is idle), else (or if that fails) by SIGKILL;
        remove its cgroups once the worker is done (``graceful``)."""
        proc, self.proc = self.proc, None
        if proc is None:
            if graceful:
                _remove_cgroups(self.cgroups)
                self.cgroups = []
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        exited = False
        if graceful:
            try:
                proc.wait(timeout=10)
                exited = True
            except subprocess.TimeoutExpired:
                pass
        if not exited:
            try:  # the launcher and the zygote; candidates die with the zygote's PID namespace
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        if self.workroot:
            _remove_tree(self.workroot)
        if graceful:
            _remove_cgroups(self.cgroups)
            self.cgroups = []


def _sandbox_uid(worker: int) -> int:
    """The uid (and gid) of a worker's candidates: 64 per verifier process, chosen by its pid, so that
    concurrent verifiers rarely share one (RLIMIT_NPROC counts per uid)."""
    slots = (_UID_END - _UID_BASE) // 64
    return _UID_BASE + (os.getpid() % slots) * 64 + worker % 64


def _make_cgroups(name: str, memory_mb: int, nproc: int) -> list[str]:
    """Create cgroup ``name`` that bounds the memory (every process, memfd, files on the tmpfs) and the processes of
    the candidates put in it; return its folders. cgroup v2 where its memory controller can be enabled, else the v1
    memory and pids hierarchies; [] where neither can be written (the rlimits still apply)."""
    own = _own_cgroups()
    v2 = _CGROUP_ROOTS[0] + own.get("", "/")
    try:
        with open(os.path.join(v2, "cgroup.subtree_control"), "r+") as control:
            enabled = control.read().split()
            if "memory" not in enabled or "pids" not in enabled:
                control.write("+memory +pids")
        folder = os.path.join(v2, name)
        _write_limits(folder, {"memory.max": memory_mb << 20, "memory.swap.max": 0, "pids.max": nproc})
        return [folder]
    except OSError:
        pass
    made: list[str] = []
    try:
        for root, controller, limits in (
            (
                _CGROUP_ROOTS[1],
                "memory",
                {"memory.limit_in_bytes": memory_mb << 20, "memory.memsw.limit_in_bytes": memory_mb << 20},
            ),
            (_CGROUP_ROOTS[2], "pids", {"pids.max": nproc}),
        ):
            folder = os.path.join(root + own.get(controller, "/"), name)
            made.append(folder)
            _write_limits(folder, limits)
    except OSError:
        _remove_cgroups(made)
        return []
    return made


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller ("" for v2), from /proc/self/cgroup."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    found[controller] = path
    except (OSError, ValueError):
        pass
    return found


def _write_limits(folder: str, limits: dict[str, int]) -> None:
    os.makedirs(folder, exist_ok=True)
    for file, value in limits.items():
        path = os.path.join(folder, file)
        if os.path.exists(path) or not file.startswith(("memory.swap", "memory.memsw")):  # no swap accounting: skip
            with open(path, "w") as f:
                f.write(str(value))


def _remove_cgroups(folders: list[str]) -> None:
    for folder in folders:
        for _ in range(100):  # the last processes may still be exiting
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _remove_tree(path: str) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=_force_remove)


def _force_remove(func, path, _exc_info) -> None:
    """rmtree helper: a candidate may have made its directories unwritable."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The zygote (runs in its own process, started by _Worker._start)
# ---------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _zygote_main(arg: str) -> None:
    """Entry point of a zygote: isolate, preload, say hello, then run one program per request line."""
    config = json.loads(arg)
    import site

    site.setquit()  # the builtins exit() and quit() that -S left out
    site.setcopyright()
    site.sethelper()
    proto_in, proto_out = os.dup(0), os.dup(1)
    # opened before any namespace: writing "0" to them moves a candidate into the worker's cgroups
    cgroup_fds = [os.open(os.path.join(folder, "cgroup.procs"), os.O_WRONLY) for folder in config["cgroups"]]
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # nothing but the protocol reaches the verifier's pipe
    os.close(devnull)
    for name in _PRELOAD:
        try:
            __import__(name)
        except ImportError:  # pragma: no cover
            pass
    sys.path[:] = ["", *config["path"]]  # "": the candidate's directory, as for `python candidate.py`
    features, workroot = _isolate(config, keep=(proto_in, proto_out, *cgroup_fds))
    zygote = _Zygote(config, features, workroot, cgroup_fds)
    _write_all(proto_out, (json.dumps({"features": features, "workroot": workroot}) + "\n").encode())
    reader = os.fdopen(proto_in, "rb", buffering=1 << 16)
    gc.freeze()  # a child's garbage collections do not touch (and copy) the zygote's objects
    try:
        for line in reader:
            if not line.strip():
                continue
            try:
                reply = zygote.run(json.loads(line))
            except Exception as exc:  # this candidate's runtime_error; the zygote ends and the verifier starts another
                reply = _reply("runtime_error", f"the sandbox worker failed ({type(exc).__name__}: {exc}); restarted")
                _write_all(proto_out, (json.dumps(reply | {"restart": True}) + "\n").encode())
                return
            _write_all(proto_out, (json.dumps(reply) + "\n").encode())
    finally:
        if not features["mount namespace"]:
            _remove_tree(workroot)


def _isolate(config: dict, keep: tuple[int, ...]) -> tuple[dict[str, bool], str]:
    """Enter the namespaces, forbid user namespaces, and say what is on (`isolation_report`); return the work root."""
    features, workroot = _enter_namespaces(config, keep)
    features["ipc namespace"] = False
    if features["separate user"]:
        try:  # a probe: each candidate then gets a fresh one of its own
            _call("unshare", _CLONE_NEWIPC)
            features["ipc namespace"] = True
        except OSError:
            pass
    features["fresh keyrings"] = features["separate user"] and _SYSCALLS is not None
    features["memory cgroup"] = bool(config["cgroups"])
    features["hidden folders"] = features["mount namespace"]
    features["no user namespaces"] = _forbid_user_namespaces()
    return features, workroot


def _enter_namespaces(config: dict, keep: tuple[int, ...]) -> tuple[dict[str, bool], str]:
    """Enter network, mount and PID namespaces as far as permitted; return what is on and the work root.

    With a PID namespace this forks: the caller continues as PID 1 of the new namespace, and the
    original process (the launcher) only waits for it and exits with its status.
    """
    root = config["isolate"] and os.geteuid() == 0
    features = {
        "separate user": bool(root),
        "network namespace": False,
        "mount namespace": False,
        "read-only filesystem": False,
        "pid namespace": False,
    }
    if not root:
        return features, tempfile.mkdtemp(prefix="codelutra-sandbox-")
    try:
        _call("unshare", _CLONE_NEWNET)
        features["network namespace"] = True
    except OSError:
        pass
    workroot = None
    needed = _interpreter_paths(config["path"])
    try:
        _call("unshare", _CLONE_NEWNS)
        _call("mount", None, b"/", None, _MS_REC | _MS_PRIVATE, None)  # nothing propagates back to the host
        _cover(needed, config["hidden"])
        features["read-only filesystem"] = _make_readonly()
        _call(
            "mount",
            b"tmpfs",
            b"/tmp",
            b"tmpfs",
            _MS_NOSUID | _MS_NODEV,
            f"size={_TMPFS_MB}m,nr_inodes=20000,mode=0711".encode(),
        )
        features["mount namespace"], workroot = True, "/tmp"
    except OSError:
        pass
    if workroot is None:
        workroot = tempfile.mkdtemp(prefix="codelutra-sandbox-")
        os.chmod(workroot, 0o711)
        if _blocked_ancestors(needed):  # another user could not even import the standard library
            features["separate user"] = False
    try:
        _call("unshare", _CLONE_NEWPID)
    except OSError:
        return features, workroot
    pid = os.fork()
    if pid:  # the launcher: stay the verifier's child until the zygote ends
        for fd in keep:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _call("prctl", _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    features["pid namespace"] = True
    if features["mount namespace"]:
        try:
            _call("mount", b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError:
            pass
    return features, workroot


def _interpreter_paths(path: list[str]) -> list[str]:
    """Directories a candidate must read: the interpreter's prefixes and import path (outermost only)."""
    found = set()
    for entry in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable), *path):
        for candidate in {os.path.abspath(entry), os.path.realpath(entry)}:
            if os.path.isdir(candidate):
                found.add(candidate)
    return sorted(p for p in found if not any(p.startswith(q + "/") for q in found if q != "/"))


def _blocked_ancestors(paths: list[str]) -> dict[str, list[str]]:
    """For each directory that other users cannot traverse (e.g. /root, mode 0700), the needed paths below it."""
    blocked: dict[str, list[str]] = {}
    for path in paths:
        ancestor = "/"
        for part in path.strip("/").split("/")[:-1]:
            ancestor = os.path.join(ancestor, part)
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, []).append(path)
                break
    return blocked


def _cover(needed: list[str], hidden: list[str]) -> None:
    """Cover each directory the candidate user cannot traverse (a Python under /root) and each hidden one (the
    verifier's home and caches, the task files) with an empty tmpfs holding bind mounts of just the ``needed`` paths
    below it, so the interpreter still runs and nothing else there can be read."""
    covers = _blocked_ancestors(needed)
    for folder in (os.path.realpath(h) for h in hidden):
        system = any(s == folder or s.startswith(folder.rstrip("/") + "/") for s in _SYSTEM)
        if os.path.isdir(folder) and not system and folder not in needed:
            covers.setdefault(folder, [p for p in needed if p.startswith(folder + "/")])
    done: list[str] = []
    for folder in sorted(covers, key=len):  # outer ones first
        inside = any(folder.startswith(d + "/") for d in done)
        if inside and not any(folder.startswith(p + "/") for p in needed):
            continue  # already covered: nothing of it is visible
        fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in covers[folder]}  # reachable once covered
        try:
            _call("mount", b"tmpfs", folder.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=0755")
            for path, fd in fds.items():
                os.makedirs(path, mode=0o755, exist_ok=True)
                _call("mount", f"/proc/self/fd/{fd}".encode(), path.encode(), None, _MS_BIND | _MS_REC, None)
        finally:
            for fd in fds.values():
                os.close(fd)
        done.append(folder)


_SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/var", "/proc", "/sys", "/dev", "/run")
"""Folders never hidden, nor any folder above them (the candidate needs the system's libraries)."""


def _forbid_user_namespaces() -> bool:
    """A seccomp filter on this process and all it forks: creating a user namespace (``unshare`` or ``clone`` with
    CLONE_NEWUSER) fails with EPERM, ``clone3`` (whose flags a filter cannot read) with ENOSYS so that the C library
    falls back to ``clone``, and syscalls of another ABI (x32, 32-bit) with ENOSYS. False where it cannot be set."""
    if _SYSCALLS is None:
        return False
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, enosys, eperm = 0x7FFF0000, 0x00050000 | 38, 0x00050000 | 1
    program = [
        (ld, 0, 0, 4), (jeq, 1, 0, _SYSCALLS["arch"]), (ret, 0, 0, enosys),  # arch
        (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, enosys),  # nr; x32 numbers
        (jeq, 0, 1, _SYSCALLS["clone3"]), (ret, 0, 0, enosys),
        (jeq, 2, 0, _SYSCALLS["unshare"]), (jeq, 1, 0, _SYSCALLS["clone"]), (ret, 0, 0, allow),
        (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEWUSER), (ret, 0, 0, eperm), (ret, 0, 0, allow),  # flags
    ]  # fmt: skip

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*(Filter(*ins) for ins in program))
    try:
        _call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        _call("prctl", _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(Program(len(program), filters)), 0, 0)
    except OSError:
        return False
    return True


def _make_readonly() -> bool:
    """Make every mount read-only in this mount namespace; else mask the world-writable directories."""
    attr = ctypes.create_string_buffer(int(_MOUNT_ATTR_RDONLY).to_bytes(8, "little") + bytes(24))
    if _libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, attr, 32) == 0:
        return True
    for path in ("/var/tmp", "/dev/shm", "/run/lock", "/var/lock"):
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                _call("mount", b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=0755")
            except OSError:
                pass
    return False


class _Zygote:
    def __init__(self, config: dict, features: dict[str, bool], workroot: str, cgroup_fds: list[int]) -> None:
        self.timeout_s = float(config["timeout_s"])
        self.memory_mb = int(config["memory_mb"])
        self.uid = config["uid"] if features["separate user"] else None
        self.pidns = features["pid namespace"]
        self.ipc = features["ipc namespace"]
        self.keyrings = features["fresh keyrings"]
        self.cgroup_fds = cgroup_fds
        # Every candidate gets a fresh directory at the same path, so the environment (HOME, TMPDIR) is set once here.
        self.workdir = os.path.join(workroot, "work")
        os.environ.clear()
        os.environ.update(sandbox_env({"HOME": self.workdir, "TMPDIR": self.workdir}))
        tempfile.tempdir = None
        # RLIMIT_NPROC counts all tasks of the real user: as ourselves (reduced mode) that includes ours
        self.nproc = _NPROC if self.uid is not None else _NPROC + _count_tasks(os.getuid())

    def run(self, request: dict) -> dict:
        nonce = secrets.token_hex(16)
        request = {**request, "nonce": nonce}
        workdir = self.workdir
        _remove_tree(workdir)  # normally gone already; a failed removal must not stop the next candidate
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        setup_r, setup_w = os.pipe()  # closed before the candidate's code runs: only the setup can report on it
        try:
            pid = os.fork()
            if pid == 0:
                self._child(request, workdir, out_w, res_w, setup_w)  # never returns
            for fd in (out_w, res_w, setup_w):
                os.close(fd)
            out_w = res_w = setup_w = -1
            status, timed_out, output, result = self._watch(pid, out_r, res_r)
            os.set_blocking(setup_r, False)
            try:
                setup_error = os.read(setup_r, 4096).decode("utf-8", "replace")
            except BlockingIOError:
                setup_error = ""
        finally:
            for fd in (out_r, out_w, res_r, res_w, setup_r, setup_w):
                if fd >= 0:
                    os.close(fd)
            _remove_tree(workdir)
        if setup_error:
            return {"setup": setup_error}
        return _classify(status, timed_out, output, result, f"{nonce} {pid}", self.timeout_s)

    def _watch(self, pid: int, out_r: int, res_r: int) -> tuple[int, bool, bytes, bytes]:
        """Collect output until the program exits or times out; then kill whatever it left."""
        try:
            pidfd = os.pidfd_open(pid)  # readable once the process exits (Linux >= 5.3)
        except (AttributeError, OSError):  # pragma: no cover - older kernels: poll waitpid every 5 ms
            pidfd = -1
        tails = {out_r: bytearray(), res_r: bytearray()}
        poller = select.poll()
        for fd in (out_r, res_r, pidfd):
            if fd >= 0:
                poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + self.timeout_s
        timed_out = False
        status = None
        try:
            while status is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                    break
                wait_ms = (
                    max(1, math.ceil(remaining * 1000)) if pidfd >= 0 else min(5, max(1, math.ceil(remaining * 1000)))
                )
                for fd, _ in poller.poll(wait_ms):
                    if fd != pidfd and not _read_into(fd, tails[fd]):
                        poller.unregister(fd)
                reaped, wait_status = os.waitpid(pid, os.WNOHANG)
                if reaped:
                    status = wait_status
        finally:
            if pidfd >= 0:
                os.close(pidfd)
        self._sweep(pid)
        for fd, tail in tails.items():  # every writer is dead now: read what is left
            os.set_blocking(fd, False)
            try:
                while _read_into(fd, tail):
                    pass
            except BlockingIOError:  # reduced mode: an escaped process still holds the pipe
                pass
        return status, timed_out, bytes(tails[out_r]), bytes(tails[res_r])

    def _sweep(self, pid: int) -> None:
        """Kill every process the candidate left behind."""
        if self.pidns:  # we are PID 1: kill(-1) reaches exactly the namespace's other processes
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
                _reap(block=True)
            _reap(block=False)
            return
        for _ in range(100):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            hunted = _kill_user(self.uid) if self.uid is not None else 0
            _reap(block=False)
            if not hunted:
                break
            time.sleep(0.01)

    def _child(self, request: dict, workdir: str, out_w: int, res_w: int, setup_w: int) -> None:
        report = setup_w
        try:
            os.setsid()
            for fd in self.cgroup_fds:  # into the worker's cgroups: memory and processes counted together
                os.write(fd, b"0")
            if self.ipc:  # SysV and POSIX IPC objects of its own, gone when its last process ends
                _call("unshare", _CLONE_NEWIPC)
            # stdin /dev/null, stdout and stderr the output pipe, fd 3 the result pipe, nothing else open but the
            # setup report, closed before the program runs
            opened = (os.open(os.devnull, os.O_RDWR), out_w, res_w, setup_w)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in opened]
            for target, fd in zip((0, 1, 2, 3), (high[0], high[1], high[1], high[2])):
                os.dup2(fd, target)
            report = high[3]
            os.closerange(4, report)
            os.closerange(report + 1, 1 << 20)
            os.chdir(workdir)
            apply_rlimits(self.timeout_s, self.memory_mb, self.nproc)
            if self.uid is not None:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
            if self.keyrings:  # a new session keyring, and nothing left in the user's keyrings by an earlier one
                for op, keyring in ((_KEYCTL_JOIN_SESSION_KEYRING, 0), (_KEYCTL_CLEAR, _KEY_SPEC_USER_KEYRING),
                                    (_KEYCTL_CLEAR, _KEY_SPEC_USER_SESSION_KEYRING)):  # fmt: skip
                    if _libc.syscall(ctypes.c_long(_SYSCALLS["keyctl"]), ctypes.c_long(op), ctypes.c_long(keyring)) < 0:
                        raise OSError(ctypes.get_errno(), f"keyctl {op}: {os.strerror(ctypes.get_errno())}")
            _call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            os.close(report)
        except BaseException as exc:
            try:
                os.write(report, f"{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(_SETUP_FAILED)
        _harness(request["program"], request["tests"], request["nonce"])


def apply_rlimits(timeout_s: float, memory_mb: int, nproc: int = _NPROC) -> None:
    """The sandbox's rlimits on the calling process: CPU time (timeout + 1 s), address space, file size, open files,
    core dumps (none) and processes."""
    cpu = math.ceil(timeout_s) + 1
    for limit, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory_mb << 20,) * 2),
        (resource.RLIMIT_FSIZE, (_FSIZE_MB << 20,) * 2),
        (resource.RLIMIT_NOFILE, (_NOFILE,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (nproc,) * 2),
    ):
        resource.setrlimit(limit, value)


def _harness(program: str, tests: str, nonce: str) -> None:
    """Inside the candidate's process: run the program, then its tests; report on fd 3; never return."""
    import traceback
    import types

    write, getpid, exit_now, dumps = os.write, os.getpid, os._exit, json.dumps  # the program may monkeypatch os / json
    run = exec  # nor may it replace exec or compile for its tests: both are compiled before it runs
    module = types.ModuleType("__candidate__")  # not "__main__": `if __name__ == "__main__":` blocks are skipped
    sys.modules["__candidate__"] = module
    sys.argv = ["candidate.py"]
    namespace = module.__dict__
    result: tuple[str, str] | None = None
    try:
        code, test_code = compile(program, "<candidate>", "exec"), compile(tests, "<tests>", "exec")
    except BaseException as exc:  # checked by the verifier already; a MemoryError here is the program's
        write(3, (dumps({"category": "runtime_error", "message": f"cannot compile: {exc!r}"[:400]}) + "\n").encode())
        exit_now(0)
    try:
        run(code, namespace)
    except SystemExit as exc:
        result = ("runtime_error", f"the program exited (SystemExit: {exc.code!r}) before the tests ran")
    except BaseException as exc:
        result = ("runtime_error", _describe(exc, traceback, namespace))
    if result is None:
        try:
            run(test_code, namespace)
        except SystemExit as exc:
            result = ("runtime_error", f"the program exited (SystemExit: {exc.code!r}) during the tests")
        except AssertionError as exc:
            result = ("wrong_answer", _describe(exc, traceback, namespace, tests))
        except BaseException as exc:
            result = ("runtime_error", _describe(exc, traceback, namespace))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    if result is None:
        line = f"{nonce} {getpid()}\n"
    else:
        line = dumps({"category": result[0], "message": result[1]}) + "\n"
    try:
        write(3, line.encode("utf-8", "replace"))
    finally:
        exit_now(0)


def _describe(exc: BaseException, traceback, namespace: dict, tests: str | None = None) -> str:
    """The traceback's last line (plus the failing test line for assertions in the tests), truncated."""
    try:
        text = traceback.format_exception_only(type(exc), exc)[-1].strip()
        if tests is not None:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tests>"]
            if frames and frames[-1].lineno:
                text += f" [test: {tests.splitlines()[frames[-1].lineno - 1].strip()}]"
    except BaseException:  # MemoryError while formatting: free the program's globals and say less
        namespace.clear()
        text = type(exc).__name__
    return text[:_MESSAGE_CHARS]


def _classify(status: int, timed_out: bool, output: bytes, result: bytes, success: str, timeout_s: float) -> dict:
    """The zygote's reply: a category (a `Category` value) and message, whatever the candidate wrote."""
    if timed_out:
        return _reply("timeout", f"timed out after {timeout_s:g} s")
    lines = result.decode("utf-8", "replace").splitlines()
    last = lines[-1] if lines else ""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and last == success:
        return _reply("correct", "")
    try:  # the harness's report, or anything the program wrote to fd 3: it can only ever fail itself
        report = json.loads(last)
        if isinstance(report, dict) and report.get("category") in ("wrong_answer", "runtime_error"):
            return _reply(report["category"], str(report.get("message", "")))
    except Exception:  # not JSON, too deep (RecursionError), ...
        pass
    said = output.decode("utf-8", "replace").strip().splitlines()
    said_last = f": {said[-1].strip()}" if said else ""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return _reply("timeout", f"CPU time limit exceeded ({math.ceil(timeout_s) + 1} s)")
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return _reply("runtime_error", f"killed by signal {name}{said_last}")
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return _reply("runtime_error", f"the program exited with code {code} before the tests finished{said_last}")


def _reply(category: str, message: str) -> dict:
    return {"category": category, "message": message[:_MESSAGE_CHARS]}


def _read_into(fd: int, tail: bytearray) -> bool:
    """Read a chunk into ``tail`` keeping its last `_OUTPUT_TAIL` bytes; False at end of file."""
    chunk = os.read(fd, 1 << 16)
    if not chunk:
        return False
    tail += chunk
    if len(tail) > _OUTPUT_TAIL:
        del tail[:-_OUTPUT_TAIL]
    return True


def _reap(block: bool) -> None:
    """Wait for children (as PID 1, every orphan in the namespace is one) until none is left (or none has exited)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def _count_tasks(uid: int) -> int:
    """Processes and threads of ``uid`` (what RLIMIT_NPROC counts)."""
    total = 0
    try:
        for pid in _processes_of(uid):
            try:
                total += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    except OSError:  # pragma: no cover - no /proc
        return 4096
    return total


def _kill_user(uid: int) -> int:
    """Kill every process of ``uid`` (reduced mode without a PID namespace); how many there were."""
    pids = _processes_of(uid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)
