"""The judge: a process of its own that runs a task's tests, with the program's names bound to stubs.

The candidate's process runs the program and answers calls; it never sees the tests, their expected values or this
process's report. Here, each name the tests take from the program is a `Remote`: calling it sends the arguments to
the candidate (`codec`) and returns the decoded result, a plain value or a handle that equals only itself, so every
comparison runs here on values no program can subclass. An exception raised by the program arrives as a
`ProgramError` (of the built-in class it names, when there is one: ``except ValueError`` in a test still works), so it
is a ``runtime_error`` even when it is an ``AssertionError``; only an ``AssertionError`` of the tests themselves is a
``wrong_answer``. The verdict goes to the report file, which only this process holds.

Which names come from the program is the verifier's `plan`: every global name the tests use that is neither a
built-in, nor a standard-library module (imported here), nor defined by the task's own prelude (HumanEval's prompt,
whose helper functions thus stay the task's), plus the task's declared names. So a program cannot stand in for
``abs``, ``sys`` or ``encode_cyclic`` in the tests that check it.
DS-1000's harness runs here too, with its ``exec`` bound to a stub that runs the code in the candidate's process on
the (sent) namespace and brings the namespace back. Only the standard library is imported here: the zygote loads this
file on its own.
"""

from __future__ import annotations

import base64
import builtins
import importlib
import json
import marshal
import os
import socket
from typing import NoReturn

from . import codec

LOST = 3
"""The judge's exit status when the candidate's process went away during the tests (the zygote then says how)."""
_MESSAGE_CHARS = 400
_MEMORY_ERROR_REPORT = b'{"category": "runtime_error", "message": "MemoryError"}'


class ProgramError(Exception):
    """An exception the program raised, as the tests see it: ``str()`` is the program's own traceback line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ProgramExit(BaseException):
    """The program called ``sys.exit()`` inside a call (not an `Exception`: a test's ``except Exception`` misses it)."""


class ProgramLost(BaseException):
    """The candidate's process ended, or closed its channel, before answering."""


class ProgramFailed(BaseException):
    """The program did not run to its end (it raised or exited before the tests): ``str()`` says why."""


class Remote:
    """A function, class or object of the program: calling it, reading or setting an attribute asks the candidate.

    Equal only to itself; its dunder attributes are its own (never the program's), so ``copy``, ``repr`` and
    comparisons stay here.
    """

    __slots__ = ("_id", "_type")

    def __init__(self, handle: int, type_name: str) -> None:
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_type", type_name)

    def __call__(self, *args, **kwargs):
        return _channel.ask("call", self, list(args), kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _channel.ask("getattr", self, name)

    def __setattr__(self, name: str, value: object) -> None:
        _channel.ask("setattr", self, name, value)

    def __repr__(self) -> str:
        return f"<{self._type} of the program>"


class Channel:
    """The judge's end of the pipes to the candidate: one request, one answer."""

    def __init__(self, requests: int, answers: int) -> None:
        self.requests, self.answers = requests, answers
        self.handles: dict[int, Remote] = {}
        self.errors: dict[str, type] = {}
        self.tests_namespace: dict | None = None  # what exec_stub must never hand to the program

    def receive(self) -> list:
        try:
            message = codec.decode(codec.receive(self.answers), self.handle, imports=False)
        except EOFError:
            raise ProgramLost() from None
        except codec.CodecError as exc:
            raise self.error("CodecError", f"the program's answer cannot be read: {exc}") from None
        if not (type(message) is list and message and type(message[0]) is str):
            raise self.error("CodecError", "the program answered out of protocol")
        return message

    def ask(self, op: str, *args: object) -> object:
        """The candidate's answer to ``op``; raises what the program raised."""
        try:
            codec.send(self.requests, codec.encode([op, *args], _sendable))
        except BrokenPipeError:
            raise ProgramLost() from None
        answer = self.receive()
        if answer[0] == "ok" and len(answer) == 2:
            return answer[1]
        if answer[0] == "raised" and len(answer) == 3 and all(type(a) is str for a in answer[1:]):
            raise self.error(answer[1], answer[2])
        if answer[0] in ("exit", "failed") and len(answer) == 2 and type(answer[1]) is str:
            raise (ProgramExit if answer[0] == "exit" else ProgramFailed)(answer[1][:_MESSAGE_CHARS])
        raise self.error("CodecError", "the program answered out of protocol")

    def handle(self, handle: int, type_name: str) -> Remote:
        if handle not in self.handles:
            self.handles[handle] = Remote(handle, type_name)
        return self.handles[handle]

    def error(self, name: str, message: str) -> ProgramError:
        """A `ProgramError` that is also the built-in exception class ``name`` names, where there is one."""
        if name not in self.errors:
            base = getattr(builtins, name, None)
            self.errors[name] = ProgramError
            if isinstance(base, type) and issubclass(base, Exception):
                try:  # no __init__ below: some built-ins need other arguments
                    self.errors[name] = error = type(name, (ProgramError, base), {})
                    error.__new__(error, "")
                except TypeError:  # MemoryError, ExceptionGroup: made otherwise
                    self.errors[name] = ProgramError
        error = self.errors[name]
        return error.__new__(error, message[:_MESSAGE_CHARS])

    def exec_stub(self, source, globals=None, locals=None, /):  # noqa: A002 - the signature of exec
        """``exec`` for the DS-1000 harness: runs ``source`` in the candidate on a copy of ``globals``, then updates
        ``globals`` with the names the code left there (not dunders: ``__builtins__`` stays the judge's)."""
        if type(source) is not str or type(globals) is not dict or locals is not None:
            raise TypeError("the tests' exec() must be given the code as text and one namespace dict")
        if globals is self.tests_namespace:
            raise TypeError("the tests' exec() must not run the program in the tests' own namespace")
        sent = {k: v for k, v in globals.items() if k != "__builtins__"}
        result = self.ask("exec", source, sent)
        if type(result) is not dict:
            raise self.error("CodecError", "the program answered out of protocol")
        globals.update((k, v) for k, v in result.items() if type(k) is str and not k.startswith("__"))


_channel: Channel  # the channel of the judgement under way (set by `judgement`)


def _sendable(x: object) -> object:
    """The wire form of a test value of no plain type: a handle back to the program, else refused."""
    if type(x) is Remote:
        return {"h": [object.__getattribute__(x, "_id"), ""]}
    raise TypeError(f"the tests pass a {type(x).__name__} to the program, which only receives plain values")


def main(payload_fd: int, report_fd: int, requests: int, answers: int) -> NoReturn:
    """Judge one candidate and exit with `judgement`'s status: a fresh judge, for tests a model wrote."""
    exit_now = os._exit  # the tests may monkeypatch os
    exit_now(judgement(payload_fd, report_fd, requests, answers))


def serve(channel: int) -> NoReturn:
    """Judge candidate after candidate, each from the four descriptors that come on socket ``channel``, answering
    each with `judgement`'s status (one byte); exit when the zygote closes it. For tests read from a task file."""
    zygote = socket.socket(fileno=channel)
    while True:
        message, fds, _, _ = socket.recv_fds(zygote, 64, 4)
        if not message or len(fds) != 4:
            os._exit(0)
        zygote.send(bytes([judgement(*fds)]))


def judgement(payload_fd: int, report_fd: int, requests: int, answers: int) -> int:
    """Run the tests the payload describes against the candidate and write the report; close the four descriptors.
    0 when the report is written, `LOST` when the candidate's process went away (the zygote then says how)."""
    global _channel
    status, report = 0, _MEMORY_ERROR_REPORT
    try:
        with os.fdopen(payload_fd, "rb") as f:
            payload = json.loads(f.read())
        _channel = Channel(requests, answers)
        category, message = _judge(payload, _channel)
        report = json.dumps({"category": category, "message": message[:_MESSAGE_CHARS]}).encode()
    except ProgramLost:
        status = LOST
    except MemoryError:
        pass
    try:
        if status == 0:
            os.write(report_fd, report)
    finally:
        for fd in (report_fd, requests, answers):
            os.close(fd)
    return status


def _judge(payload: dict, channel: Channel) -> tuple[str, str]:
    """``(category, message)`` for the program, from running the tests here."""
    namespace: dict = {"__name__": "__tests__", "__builtins__": builtins}
    tests = payload["tests"]
    try:
        if payload["prelude"]:
            exec(compile(payload["prelude"], "<prompt>", "exec"), namespace)
        code = marshal.loads(base64.b64decode(payload["code"]))  # compiled by the verifier (`plan`)
    except BaseException as exc:  # the task's own code: the verifier checked it compiles
        return "runtime_error", f"the task's tests do not run: {describe(exc, namespace)}"
    try:
        if payload["snippet"]:
            namespace["exec"] = channel.exec_stub
            channel.tests_namespace = namespace
        else:
            wanted = set(payload["names"])
            for name in payload["modules"]:  # a module the tests use is this process's own
                try:
                    namespace[name] = importlib.import_module(name)
                except ImportError:
                    wanted.add(name)
            found = channel.ask("names", sorted(wanted))
            if type(found) is not dict or not wanted.issuperset(found):
                return "runtime_error", "the program answered out of protocol"
            namespace.update(found)
        exec(code, namespace)
    except (ProgramExit, ProgramFailed, ProgramError) as exc:
        return "runtime_error", str(exc)
    except AssertionError as exc:
        return "wrong_answer", describe(exc, namespace, tests)
    except ProgramLost:
        raise
    except BaseException as exc:
        return "runtime_error", describe(exc, namespace)
    return "correct", ""


def describe(exc: BaseException, namespace: dict, tests: str | None = None) -> str:
    """The traceback's last line (plus the failing test line for assertions in the tests), truncated."""
    import traceback

    try:
        text = traceback.format_exception_only(type(exc), exc)[-1].strip()
        if tests is not None:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tests>"]
            if frames and frames[-1].lineno:
                text += f" [test: {tests.splitlines()[frames[-1].lineno - 1].strip()}]"
    except BaseException:  # MemoryError while formatting: free the tests' globals and say less
        namespace.clear()
        text = type(exc).__name__
    return text[:_MESSAGE_CHARS]
