"""The zygote: one warm process per worker that forks each candidate's two processes, watches them and reports.

Started by the verifier as ``python -S -c BOOT <this folder> <config>`` (no ``site``, not this package: only the
standard library and the files of this folder, so forks copy little), it pre-imports what programs use most,
isolates itself (`isolation`), and then, per request on its socket (three file descriptors: the program, the
judge's payload, the empty report), forks

* the **candidate** (`candidate`), which reads the program, runs it and answers the judge's calls, as a user of its
  own (full mode), in a session and an IPC namespace of its own;

and hands the payload, the report and the judge's ends of the candidate's pipes to the **judge** (`judge`), which
reads the payload (the tests), runs them and writes the report, as another user, not dumpable, so the candidate can
neither read its memory nor signal it. For tests read from a task file (``trusted`` in the request) the judge is a
process that lasts (`_Judges`: forked once, then fed the descriptors over a socket; no CPU rlimit, the wall clock
bounds each judgement, and one that overruns or dies is replaced); for tests a model wrote it is forked afresh per
candidate, so that no test can touch another's verdict.

The zygote never reads the payload or the report itself (forks would inherit them): it closes the payload once the
judge has it and sends the report back unread, with what it saw (the wall-clock timeout, how the judgement and the
candidate ended, the last line the program printed). All run with rlimits, in the worker's cgroup, with fresh
keyrings, ``no_new_privs`` and the parent-death signal; after each candidate every process left is killed but the
long-lived judge.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping

from . import arrays, candidate, isolation, judge  # noqa: F401 - arrays: the codec's, imported before the root changes

NPROC = 64  # processes (threads count too) per sandbox user
_FSIZE_MB = 64  # largest file a candidate may write
_NOFILE = 256
_OUTPUT_TAIL = 4096  # bytes of the program's stdout/stderr kept
_SETUP_FAILED = 121
_KEYCTL_JOIN_SESSION_KEYRING, _KEYCTL_CLEAR, _KEY_SPEC_USER_KEYRING, _KEY_SPEC_USER_SESSION_KEYRING = 1, 7, -4, -5
# what MBPP and HumanEval programs and tests import most (re, math, collections, heapq, itertools, typing...)
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
    "random",
    "typing",
    "traceback",
    "types",
    "decimal",
    "fractions",
    "base64",
    "marshal",
)


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


def apply_rlimits(timeout_s: float, memory_mb: int, nproc: int = NPROC, cpu: bool = True) -> None:
    """The sandbox's rlimits on the calling process: CPU time (timeout + 1 s, where ``cpu``), address space, file size,
    open files, core dumps (none) and processes."""
    seconds = math.ceil(timeout_s) + 1
    for limit, value in (
        *([(resource.RLIMIT_CPU, (seconds, seconds + 1))] if cpu else []),
        (resource.RLIMIT_AS, (memory_mb << 20,) * 2),
        (resource.RLIMIT_FSIZE, (_FSIZE_MB << 20,) * 2),
        (resource.RLIMIT_NOFILE, (_NOFILE,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (nproc,) * 2),
    ):
        resource.setrlimit(limit, value)


def main(arg: str) -> None:
    """Entry point: isolate, preload, say hello on the socket, then run one candidate per request."""
    config = json.loads(arg)
    import site

    site.setquit()  # the builtins exit() and quit() that -S left out
    site.setcopyright()
    site.sethelper()
    stdlib = [p for p in sys.path if p]  # -S: the standard library only
    channel = socket.socket(fileno=config["socket"])
    # opened before any namespace: writing "0" to them moves a process into the worker's cgroups
    cgroup_fds = [os.open(os.path.join(folder, "cgroup.procs"), os.O_WRONLY) for folder in config["cgroups"]]
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # nothing reaches the verifier but the socket; stderr stays for the zygote's own crash
        os.dup2(devnull, fd)
    os.close(devnull)
    for name in (*_PRELOAD, *config["preload"]):
        try:
            __import__(name)
        except ImportError:  # pragma: no cover
            pass
    isolation.call("prctl", isolation.PR_SET_DUMPABLE, 0, 0, 0, 0)  # no process of the same user reads our memory
    features, workroot = isolation.isolate({**config, "stdlib": stdlib}, keep=(channel.fileno(), *cgroup_fds))
    features["separate judge user"] = features["separate user"] and len(set(config["uids"])) == 2
    sys.path[:] = ["", *stdlib, *config["package_dirs"]]  # "": the candidate's directory, as for `python prog.py`
    zygote = _Zygote(config, features, workroot, cgroup_fds)
    channel.send(json.dumps({"features": features, "workroot": workroot}).encode())
    gc.freeze()  # a child's garbage collections do not touch (and copy) the zygote's objects
    try:
        while True:
            header, fds, _, _ = socket.recv_fds(channel, 4096, 3)
            if not header:
                return
            if len(fds) != 3:  # pragma: no cover - the verifier always sends three
                raise RuntimeError(f"a request with {len(fds)} file descriptors")
            try:
                reply = zygote.run(*fds, trusted=bool(json.loads(header).get("trusted")))
            except Exception as exc:  # this candidate's runtime_error; the zygote ends and the verifier starts another
                socket.send_fds(channel, [json.dumps({"failed": f"{type(exc).__name__}: {exc}"}).encode()], fds[2:])
                return
            socket.send_fds(channel, [json.dumps(reply).encode()], fds[2:])  # the report, unread
            os.close(fds[2])
    finally:
        if not features["mount namespace"]:
            remove_tree(workroot)


class _Zygote:
    def __init__(self, config: dict, features: dict[str, bool], workroot: str, cgroup_fds: list[int]) -> None:
        self.timeout_s = float(config["timeout_s"])
        self.memory_mb = int(config["memory_mb"])
        self.uid, self.judge_uid = config["uids"] if features["separate user"] else (None, None)
        self.pidns = features["pid namespace"]
        self.ipc = features["ipc namespace"]
        self.keyrings = features["fresh keyrings"]
        self.cgroup_fds = cgroup_fds
        # Every candidate gets fresh directories at the same paths, so the environment (HOME, TMPDIR) is set once here.
        self.workdir = os.path.join(workroot, "work")
        self.judgedir = os.path.join(workroot, "judge")  # a fresh judge's
        self.serverdir = os.path.join(workroot, "judges")  # the long-lived judge's
        self.server: _Judges | None = None
        self.own_proc = self.pidns and os.readlink("/proc/self") == "1"  # PID 1 in a /proc of our namespace
        os.environ.clear()
        os.environ.update(sandbox_env({"HOME": self.workdir, "TMPDIR": self.workdir}))
        tempfile.tempdir = None
        # RLIMIT_NPROC counts all tasks of the real user: as ourselves (reduced mode) that includes ours
        self.nproc = NPROC if self.uid is not None else NPROC + _count_tasks(os.getuid())

    def run(self, program_fd: int, payload_fd: int, report_fd: int, trusted: bool) -> dict:
        """Run one candidate: its program and its judgement, by the long-lived judge when the tests are ``trusted``,
        else by a fresh one; what was seen (see the module docstring). Closes the program and the payload; the
        caller keeps the report."""
        ours = [program_fd, payload_fd]
        trusted = trusted and (self.own_proc or not self.pidns)  # the long-lived judge needs a /proc of our own there
        try:
            _fresh_folder(self.workdir, self.uid)
            if not trusted:
                _fresh_folder(self.judgedir, self.judge_uid)
            requests_r, requests_w = os.pipe()
            answers_r, answers_w = os.pipe()
            out_r, out_w = os.pipe()
            setup_r, setup_w = os.pipe()  # closed before any untrusted code runs: only the setup reports on it
            ours += [requests_r, requests_w, answers_r, answers_w, out_r, out_w, setup_r, setup_w]
            judge_pid = None
            if trusted:
                try:
                    self._judges().send(payload_fd, report_fd, requests_w, answers_r)
                except OSError:  # it died since it was last seen alive: a new one
                    self._stop_judges()
                    self._judges().send(payload_fd, report_fd, requests_w, answers_r)
            else:
                judge_pid = os.fork()
                if judge_pid == 0:
                    self._judge(payload_fd, report_fd, requests_w, answers_r, setup_w)  # never returns
            ours.remove(payload_fd)
            os.close(payload_fd)  # the tests are the judge's alone from here on
            candidate_pid = os.fork()
            if candidate_pid == 0:
                self._candidate(program_fd, requests_r, answers_w, out_w, setup_w)  # never returns
            for fd in (program_fd, requests_r, requests_w, answers_r, answers_w, out_w, setup_w):
                ours.remove(fd)
                os.close(fd)
            seen = self._watch(judge_pid, candidate_pid, out_r)
            os.set_blocking(setup_r, False)
            try:
                setup_error = os.read(setup_r, 4096).decode("utf-8", "replace")
            except BlockingIOError:
                setup_error = ""
        except _SetupError as exc:
            setup_error = str(exc)
        finally:
            for fd in ours:
                os.close(fd)
            remove_tree(self.workdir)
            if not trusted:
                remove_tree(self.judgedir)
        return {"setup": setup_error} if setup_error else seen

    def _watch(self, judge_pid: int | None, candidate_pid: int, out_r: int) -> dict:
        """Wait for the judgement (and, when the judge lost the candidate, for the candidate's end) or the timeout;
        kill what is left. ``judge_pid``: the fresh judge's, None for the long-lived one."""
        waits = {}  # readable once the process exits (Linux >= 5.3)
        for pid in (judge_pid, candidate_pid):
            try:
                if pid is not None:
                    waits[os.pidfd_open(pid)] = pid
            except (AttributeError, OSError):  # pragma: no cover - older kernels: poll waitpid every 5 ms
                pass
        judges = self.server if judge_pid is None else None
        tail = bytearray()
        poller = select.poll()
        for fd in (out_r, *waits, *([judges.channel.fileno()] if judges else [])):
            poller.register(fd, select.POLLIN)
        ended: dict[int, int] = {}
        judged = None  # the judgement's status, as a wait status
        deadline = time.monotonic() + self.timeout_s
        timed_out = False
        try:
            while judged is None or (_lost(judged) and candidate_pid not in ended):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                exact = len(waits) == (1 if judges else 2)
                for fd, _ in poller.poll(max(1, math.ceil(remaining * 1000)) if exact else 5):
                    if fd == out_r:
                        if not _read_into(fd, tail):
                            poller.unregister(fd)
                    elif judges and fd == judges.channel.fileno():
                        poller.unregister(fd)
                        judged = judges.receive()
                    else:
                        poller.unregister(fd)
                for pid in (judge_pid, candidate_pid):
                    if pid is not None and pid not in ended:
                        reaped, status = os.waitpid(pid, os.WNOHANG)
                        if reaped:
                            ended[pid] = status
                if judge_pid in ended:
                    judged = ended[judge_pid]
        finally:
            for fd in waits:
                os.close(fd)
        self._sweep({judge_pid, candidate_pid} - set(ended) - {None})
        if judges and judged is None and not judges.settle(1.0):  # it did not see its candidate go: it is stuck
            self._stop_judges()
        os.set_blocking(out_r, False)
        try:  # every writer is dead now: read what is left
            while _read_into(out_r, tail):
                pass
        except BlockingIOError:  # reduced mode: an escaped process still holds the pipe
            pass
        said = tail.decode("utf-8", "replace").strip().splitlines()
        return {
            "timed_out": timed_out,
            "judge": judged,
            "candidate": ended.get(candidate_pid),
            "said": said[-1].strip() if said else "",
        }

    def _sweep(self, ours: set[int]) -> None:
        """Kill every process the candidate and a fresh judge left (never the long-lived judge), and reap ``ours``
        (those two, where still running)."""
        keep = {os.getpid(), self.server.pid} if self.server else {os.getpid()}
        if self.pidns and self.server is None:  # we are PID 1: kill(-1) reaches exactly the namespace's other processes
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    return
                _reap(block=True)
        if self.pidns:  # all but the long-lived judge (it runs where /proc is this namespace's own)
            for _ in range(10_000):
                others = [pid for pid in _namespace_pids() if pid not in keep]
                if not others:
                    return
                for pid in others:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if not _reap():
                    time.sleep(0.0005)
            raise RuntimeError("processes of a candidate outlived 10,000 rounds of SIGKILL")
        for pid in ours:
            try:  # the candidate leads its own process group; a fresh judge, in the zygote's, goes alone
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            os.waitpid(pid, 0)
        for _ in range(100):
            hunted = sum(_kill_user(uid, keep) for uid in (self.uid, self.judge_uid) if uid is not None)
            _reap()
            if not hunted:
                break
            time.sleep(0.01)

    def _judges(self) -> _Judges:
        """The long-lived judge, started (again) where it is not running."""
        if self.server is not None and not self.server.alive():
            self._stop_judges()
        if self.server is None:
            _fresh_folder(self.serverdir, self.judge_uid)
            channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            setup_r, setup_w = os.pipe()
            try:
                pid = os.fork()
                if pid == 0:
                    os.environ.update({"HOME": self.serverdir, "TMPDIR": self.serverdir})
                    null = os.open(os.devnull, os.O_RDWR)
                    self._enter(self.serverdir, self.judge_uid, (null, null, null, theirs.fileno()), setup_w, cpu=False)
                    sys.path.remove("")  # nothing of the candidate's directory is imported
                    judge.serve(channel=3)
                theirs.close()
                os.close(setup_w)
                setup_w = -1
                error = os.read(setup_r, 4096).decode("utf-8", "replace")  # "" once it has closed the pipe: set up
            finally:
                os.close(setup_r)
                if setup_w >= 0:
                    os.close(setup_w)
            self.server = _Judges(pid, channel)
            if error:
                self._stop_judges()
                raise _SetupError(error)
        return self.server

    def _stop_judges(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            remove_tree(self.serverdir)

    def _judge(self, payload_fd: int, report_fd: int, requests: int, answers: int, setup: int) -> None:
        os.environ.update({"HOME": self.judgedir, "TMPDIR": self.judgedir})
        self._enter(self.judgedir, self.judge_uid, (os.open(os.devnull, os.O_RDWR),) * 3 + (requests, answers,
                    payload_fd, report_fd), setup)  # fmt: skip
        sys.path.remove("")  # nothing of the candidate's directory is imported
        judge.main(payload_fd=5, report_fd=6, requests=3, answers=4)

    def _candidate(self, program_fd: int, requests: int, answers: int, out: int, setup: int) -> None:
        null = os.open(os.devnull, os.O_RDWR)
        self._enter(self.workdir, self.uid, (null, out, out, requests, answers, program_fd), setup, program=True)

    def _enter(
        self, folder: str, uid: int | None, fds: tuple[int, ...], setup: int, program: bool = False, cpu: bool = True
    ) -> None:
        """In a fresh child: cgroup, ``fds`` as 0, 1, 2..., directory, rlimits (CPU time only where ``cpu``: the
        long-lived judge is bounded by the zygote's watch instead), user, keyrings, no_new_privs, not dumpable; for the
        candidate also a session and an IPC namespace of its own. Then close the setup report and, for the candidate,
        run the program."""
        report = setup
        try:
            if program:
                os.setsid()
            for fd in self.cgroup_fds:  # into the worker's cgroups: memory and processes counted together
                os.write(fd, b"0")
            if self.ipc and program:  # SysV and POSIX IPC objects of its own, gone when its last process ends
                isolation.call("unshare", isolation.CLONE_NEWIPC)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in (*fds, setup)]
            for target, fd in enumerate(high[:-1]):
                os.dup2(fd, target)
            report = high[-1]
            os.closerange(len(fds), report)
            os.closerange(report + 1, 1 << 20)
            os.chdir(folder)
            if program:
                with os.fdopen(len(fds) - 1, "rb") as f:  # the program: read here, never by the zygote
                    source = json.loads(f.read())["program"]
            apply_rlimits(self.timeout_s, self.memory_mb, self.nproc, cpu=cpu)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            if self.keyrings:  # a new session keyring, and nothing left in the user's keyrings by an earlier one
                for op, keyring in ((_KEYCTL_JOIN_SESSION_KEYRING, 0), (_KEYCTL_CLEAR, _KEY_SPEC_USER_KEYRING),
                                    (_KEYCTL_CLEAR, _KEY_SPEC_USER_SESSION_KEYRING)):  # fmt: skip
                    number = ctypes.c_long(isolation.SYSCALLS["keyctl"])
                    if isolation.libc.syscall(number, ctypes.c_long(op), ctypes.c_long(keyring)) < 0:
                        raise OSError(ctypes.get_errno(), f"keyctl {op}: {os.strerror(ctypes.get_errno())}")
            isolation.call("prctl", isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # setuid cleared it
            isolation.call("prctl", isolation.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            isolation.call("prctl", isolation.PR_SET_DUMPABLE, 0, 0, 0, 0)
            os.close(report)
        except BaseException as exc:
            try:
                os.write(report, f"{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(_SETUP_FAILED)
        if program:
            candidate.main(source, requests=3, answers=4)


class _SetupError(Exception):
    """A sandbox process could not be set up (the host's problem: the verifier raises SandboxError)."""


class _Judges:
    """The long-lived judge: its pid and the zygote's end of its socket (four descriptors out, a status byte back)."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid, self.channel = pid, channel

    def send(self, payload_fd: int, report_fd: int, requests: int, answers: int) -> None:
        socket.send_fds(self.channel, [b"judge"], [payload_fd, report_fd, requests, answers])

    def receive(self) -> int:
        """The judgement's status, as a wait status (the judge's own, where it died instead)."""
        answer = self.channel.recv(16)
        if answer:
            return answer[0] << 8
        status = self._wait(0) or signal.SIGKILL  # reaped already by a sweep: say it was killed
        self.pid = 0
        return status

    def settle(self, timeout: float) -> bool:
        """After a timeout: whether the judge answers within ``timeout`` seconds (seeing its candidate go) and lives."""
        ready, _, _ = select.select([self.channel], [], [], timeout)
        if ready:
            self.receive()
        return bool(ready) and self.pid != 0

    def alive(self) -> bool:
        return self.pid != 0 and self._wait(os.WNOHANG) is None

    def stop(self) -> None:
        self.channel.close()
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait(0)

    def _wait(self, options: int) -> int | None:
        """Its wait status once it has ended (0: reaped elsewhere), None while it runs."""
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:
            return 0
        return status if pid else None


def _fresh_folder(folder: str, uid: int | None) -> None:
    remove_tree(folder)  # normally gone already; a failed removal must not stop the next candidate
    os.mkdir(folder, 0o700)
    if uid is not None:
        os.chown(folder, uid, uid)


def _namespace_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _lost(status: int) -> bool:
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == judge.LOST


def _read_into(fd: int, tail: bytearray) -> bool:
    """Read a chunk into ``tail`` keeping its last `_OUTPUT_TAIL` bytes; False at end of file."""
    chunk = os.read(fd, 1 << 16)
    if not chunk:
        return False
    tail += chunk
    if len(tail) > _OUTPUT_TAIL:
        del tail[:-_OUTPUT_TAIL]
    return True


def _reap(block: bool = False) -> int:
    """Reap children (as PID 1, every orphan in the namespace is one) until none is left, or (not ``block``) none has
    exited; how many."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def remove_tree(path: str) -> None:
    try:
        os.rmdir(path)  # most candidates leave their directory empty
    except FileNotFoundError:
        pass
    except OSError:
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


def _kill_user(uid: int, keep: set[int]) -> int:
    """Kill every process of ``uid`` but ``keep`` (reduced mode without a PID namespace); how many there were."""
    pids = [pid for pid in _processes_of(uid) if pid not in keep]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)
