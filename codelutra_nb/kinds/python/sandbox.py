"""Running untrusted candidate Python programs against their tests: the batch verifier.

WHAT THIS SANDBOX IS. Each candidate gets two processes, forked from a warm "zygote" (one per worker, `zygote`) that
has already imported the common standard library, and never runs in the verifier's process: the **candidate**, which
runs the program and answers calls (`candidate`), and the **judge**, which runs the task's tests with the program's
names bound to stubs that call into the candidate and compares the plain values that come back (`judge`, `codec`).
The candidate never receives the tests, their expected values or anything that writes the verdict; what it returns
is plain data (built-in types rebuilt by a strict decoder) or a handle that equals only itself; only the judge writes
the report. When the verifier runs as root on Linux (the full mode; `isolation_report` says what is on), each zygote
lives in its own PID, network and mount namespaces and in a root of its own that holds only the interpreter, its
standard library, the system folders and the packages the task layout declares (`isolation`, `packages`); both
processes

* run as unprivileged users of their own worker, one for the judge and one for the candidate (`_sandbox_uids`: no
  passwd entry, no supplementary groups, ``no_new_privs``), not dumpable, so the candidate can neither read the
  judge's memory nor signal it;
* have rlimits on CPU time (timeout + 1 s), address space (``memory_mb``), file size (64 MiB), open files (256), core
  dumps (none) and processes (``RLIMIT_NPROC`` = 64 per user), and share the worker's cgroup, which bounds the memory
  of all their processes, memfds and files together to ``memory_mb`` and their processes to 64 (where a cgroup can be
  made);
* have new session keyrings and user keyrings cleared of what an earlier one left, cannot create user namespaces (a
  seccomp filter on the zygote), and the candidate has an IPC namespace of its own;
* are killed on the wall-clock timeout, and afterwards every process left in the worker's PID namespace is killed;
* have no network: an empty network namespace with a down loopback;
* see only the allow-listed root, read-only, plus fresh directories of their own (cwd, ``HOME``, ``TMPDIR``) on a
  256 MiB tmpfs private to the worker: no site-packages beyond the declared packages, no home, no checkout, no data;
* get a minimal allow-listed environment (``PATH``, locale, ``HOME``/``TMPDIR``, ``PYTHONHASHSEED=0``, one BLAS thread).

The verifier survives what a candidate does (short of a kernel exploit): a zygote that dies, stops answering or sends
anything malformed is killed and restarted, and its candidate is reported as a runtime error.

WHAT IT DOES NOT PROTECT AGAINST. It is not a virtual machine: candidates share the kernel with the host, so a kernel
exploit escapes; the seccomp filter refuses only user namespaces. A candidate can read what the root holds (``/usr``
but its Python package folders, the interpreter and its standard library), use the CPU for its timeout and memory up
to its limits, and pass a test that is weak (``assert f(x)`` holds for any true value). Tests that inspect global
state after running code (DS-1000's Matplotlib checks read ``plt``) see the judge's state, not the program's, and
fail.

REDUCED MODES. Not root, or namespaces not permitted: each missing piece is skipped and `verify_python` warns once.
Without root the candidate runs as you (one user for judge and candidate): it can read your files, kill your
processes, write wherever you can and reach the network, but the judge and the zygote are not dumpable, so it can
neither read their memory nor their files through ``/proc``; it can kill the judge (a runtime error) but not write its
report. What it can still do is attack the verifier's own process (see docs/sandbox.md).

See docs/sandbox.md for the same list and the tests that check each claim.
"""

from __future__ import annotations

import json
import math
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ...errors import CodelutraError
from ...progress import progress_bar
from ...verdicts import Category, Verdict
from ..base import MAX_COMPLETION_CHARS, check_task_ids
from . import cgroups, packages
from .judge import LOST
from .plan import Plans
from .tasks import PythonTask, program_for, syntax_problem
from .zygote import NPROC, remove_tree, sandbox_env

__all__ = ["SandboxError", "isolation_report", "verify_python"]


class SandboxError(CodelutraError, RuntimeError):
    """The sandbox itself cannot run (zygotes do not start, a child cannot be set up)."""


_UID_BASE, _UID_END = 480_000, 524_288  # sandbox user ids (65536-524287 is unused by convention)
_MESSAGE_CHARS = 400
_REPORT_BYTES = 1 << 16
_RESPONSE_GRACE_S = 15.0  # how long past the timeout the verifier waits for a zygote before restarting it
_START_ATTEMPTS = 3
_ISOLATE = True  # tests set this to False to exercise the reduced mode
_FOLDER = os.path.dirname(os.path.abspath(__file__))
# Started as `python -S -c _BOOT folder config`: no site (.pth files) and not the package, only this folder's files.
_BOOT = (
    "import importlib, sys, types; p = types.ModuleType('codelutra_sandbox'); p.__path__ = [sys.argv[1]]; "
    "sys.modules[p.__name__] = p; importlib.import_module('codelutra_sandbox.zygote').main(sys.argv[2])"
)


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
    used = {tid for tid, _ in candidates}
    plans = Plans(tasks, used)

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
        jobs.append((index, tid, program))

    with progress_bar(total=len(candidates), disable=not progress, desc="verify python", unit="prog") as bar:
        bar.update(len(candidates) - len(jobs))
        if jobs:
            limits = _Limits(float(timeout_s), int(memory_mb), tuple(sorted({tasks[tid].layout for tid in used})))
            n_workers = max(1, min(workers or _available_cores(), len(jobs)))
            for index, verdict in _run_pool(jobs, plans, limits, n_workers):
                verdicts[index] = verdict
                bar.update(1)
    return [v for v in verdicts if v is not None]


def isolation_report() -> dict[str, bool]:
    """Which protections are on for this process here (starts one zygote): a reduced mode has some False.

    Keys: ``separate user``, ``separate judge user``, ``network namespace``, ``mount namespace``, ``allow-listed
    filesystem``, ``read-only filesystem``, ``pid namespace``, ``ipc namespace``, ``fresh keyrings``, ``memory
    cgroup``, ``no user namespaces``.
    """
    worker = _Worker(0, _Limits(timeout_s=1.0, memory_mb=256))
    try:
        worker._start()
        assert worker.features is not None
        return dict(worker.features)
    finally:
        worker.close()


class _Limits(NamedTuple):
    timeout_s: float
    memory_mb: int
    layouts: tuple[str, ...] = ()  # the task layouts of the run: which packages the sandbox shows


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_pool(jobs: list[tuple[int, str, str]], plans: Plans, limits: _Limits, n_workers: int):
    """Yield ``(index, verdict)`` as the workers finish jobs ``(index, task id, program)``; each worker thread makes
    its judges' plans while the others' candidates run."""
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
                    index, tid, program = todo.get_nowait()
                except queue.Empty:
                    return
                task = plans.tasks[tid]
                program_file = json.dumps({"program": None if task.layout == "ds1000" else program}).encode()
                done.put((index, worker.run(program_file, plans.payload(tid, program), task.trusted_tests)))
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


class _Worker:
    """One zygote process and the thread-side protocol to it (a socket: JSON records, file descriptors beside)."""

    def __init__(self, index: int, limits: _Limits) -> None:
        self.index = index
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.features: dict[str, bool] | None = None
        self.workroot: str | None = None
        self.cgroups: list[str] = []

    def run(self, program: bytes, payload: bytes, trusted: bool) -> Verdict:
        if self.proc is None:
            self._start()
        assert self.channel is not None
        # The program, the tests and the report travel as memfds: the zygote passes them on and never reads them.
        files = [_memfd("program", program), _memfd("tests", payload), _memfd("report", b"")]
        try:
            socket.send_fds(self.channel, [json.dumps({"trusted": trusted}).encode()], files)
            reply, returned = self._receive(self.limits.timeout_s + _RESPONSE_GRACE_S)
        except (BrokenPipeError, ConnectionError, EOFError):
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
        finally:
            for fd in files:
                os.close(fd)
        try:
            report = os.pread(returned[0], _REPORT_BYTES, 0) if returned else b""
        finally:
            for fd in returned:
                os.close(fd)
        try:
            seen = json.loads(reply)
            if "setup" in seen:  # the host, not the candidate: nothing of the candidate had run yet
                raise SandboxError(f"The Python sandbox failed to set up a program: {seen['setup']}")
            if "failed" in seen:
                self.close(graceful=False)
                return Verdict(Category.RUNTIME_ERROR, f"the sandbox worker failed ({seen['failed']}); restarted")
            return _classify(seen, report, self.limits.timeout_s)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            self.close(graceful=False)
            return Verdict(
                Category.RUNTIME_ERROR,
                f"the sandbox worker sent a malformed reply ({reply[:80]!r}); the worker was restarted",
            )

    def _start(self) -> None:
        full = _ISOLATE and os.geteuid() == 0
        if full and not self.cgroups:
            self.cgroups = cgroups.make_cgroups(f"codelutra-{os.getpid()}-{self.index}", self.limits.memory_mb, NPROC)
        paths, folders = packages.declared_files(self.limits.layouts)
        config = {
            "uids": _sandbox_uids(self.index),
            "isolate": _ISOLATE,
            "timeout_s": self.limits.timeout_s,
            "memory_mb": self.limits.memory_mb,
            "cgroups": self.cgroups,
            "packages": paths,
            "package_dirs": folders,
            "masks": packages.package_folders(),
            "preload": [name for name in packages.PRELOADED if any(p.endswith(f"/{name}") for p in paths)],
        }
        last = ""
        for _ in range(_START_ATTEMPTS):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with tempfile.TemporaryFile() as errlog:  # the zygote's own stderr
                try:
                    self.proc = subprocess.Popen(
                        [sys.executable, "-S", "-c", _BOOT, _FOLDER, json.dumps({**config, "socket": theirs.fileno()})],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=errlog,
                        cwd="/",
                        env=sandbox_env(),
                        start_new_session=True,
                        pass_fds=[theirs.fileno()],
                    )
                finally:
                    theirs.close()
                self.channel = ours
                try:
                    hello = json.loads(self._receive(60.0)[0])
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

    def _receive(self, timeout: float) -> tuple[bytes, list[int]]:
        """One record from the zygote and the file descriptors sent with it."""
        assert self.channel is not None
        ready, _, _ = select.select([self.channel], [], [], timeout)
        if not ready:
            raise TimeoutError("no reply from the sandbox worker")
        message, fds, _, _ = socket.recv_fds(self.channel, 1 << 16, 1)
        if not message:
            for fd in fds:
                os.close(fd)
            raise EOFError("the sandbox worker exited")
        return message, fds

    def close(self, graceful: bool = True) -> None:
        """Stop the zygote: by closing its socket when ``graceful`` (it is idle), else (or if that fails) by SIGKILL;
        remove its cgroups once the worker is done (``graceful``)."""
        proc, self.proc = self.proc, None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if proc is not None:
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
                remove_tree(self.workroot)
        if graceful:
            cgroups.remove_cgroups(self.cgroups)
            self.cgroups = []


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(f"codelutra-{name}", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _classify(seen: dict, report: bytes, timeout_s: float) -> Verdict:
    """The verdict from what the zygote saw and the judge's report (the only place a program is judged correct)."""
    if seen["timed_out"]:
        return Verdict(Category.TIMEOUT, f"timed out after {timeout_s:g} s")
    judge = seen["judge"]
    if os.WIFEXITED(judge) and os.WEXITSTATUS(judge) == 0:
        try:
            verdict = json.loads(report)
            category = Category(verdict["category"])
            if category is not Category.SYNTAX_ERROR and category is not Category.TIMEOUT:
                return Verdict(category, str(verdict["message"])[:_MESSAGE_CHARS])
        except (ValueError, TypeError, KeyError, RecursionError):
            pass
        return Verdict(Category.RUNTIME_ERROR, "the tests ended without a readable report")
    if os.WIFEXITED(judge) and os.WEXITSTATUS(judge) == LOST and seen["candidate"] is not None:
        return _ended(seen["candidate"], seen["said"], timeout_s)
    if os.WIFSIGNALED(judge) and os.WTERMSIG(judge) == signal.SIGXCPU:
        return Verdict(Category.TIMEOUT, f"the tests ran out of CPU time ({math.ceil(timeout_s) + 1} s)")
    return Verdict(Category.RUNTIME_ERROR, f"the tests were stopped ({_status(judge)}): out of memory, or killed")


def _ended(status: int, said: str, timeout_s: float) -> Verdict:
    """The verdict for a program whose process ended before the tests finished."""
    said_last = f": {said}" if said else ""
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) == signal.SIGXCPU:
            return Verdict(Category.TIMEOUT, f"CPU time limit exceeded ({math.ceil(timeout_s) + 1} s)")
        return Verdict(Category.RUNTIME_ERROR, f"killed by {_status(status)}{said_last}"[:_MESSAGE_CHARS])
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    message = f"the program exited with code {code} before the tests finished{said_last}"
    return Verdict(Category.RUNTIME_ERROR, message[:_MESSAGE_CHARS])


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        try:
            return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
        except ValueError:
            return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}"


def _sandbox_uids(worker: int) -> tuple[int, int]:
    """The uids (and gids) of a worker's candidates and of its judge: 32 workers' pairs per verifier process, in a
    block chosen by its pid, so that concurrent verifiers rarely share one (RLIMIT_NPROC counts per uid)."""
    slots = (_UID_END - _UID_BASE) // 64
    candidate = _UID_BASE + (os.getpid() % slots) * 64 + (2 * worker) % 64
    return candidate, candidate + 1
