"""What the judge gets for a candidate (in the verifier, once per task): the tests compiled, and the names it binds.

The judge runs the task's prelude (HumanEval's prompt), imports the standard-library modules the tests use, asks the
program for the other global names the tests use (never a built-in, such a module or a name the prelude defines,
unless the task declares it: its entry point, or a built-in its reference redefines, e.g. MBPP 126's ``sum``), and
runs the compiled tests. MBPP and HumanEval tests do not depend on the program, so their plan is made once per task;
DS-1000's harness holds the program's text, so its plan is made per candidate.
"""

from __future__ import annotations

import ast
import base64
import builtins
import dis
import json
import marshal
import sys
import types
import warnings
from collections.abc import Mapping

from ...errors import TaskDataError
from .tasks import PythonTask, check_code, syntax_problem

_BUILTINS = frozenset(dir(builtins))
_STDLIB = frozenset(sys.stdlib_module_names)
_LOADS = frozenset(("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "STORE_NAME", "DELETE_GLOBAL", "DELETE_NAME"))
_STORES = frozenset(("STORE_GLOBAL", "STORE_NAME"))


class Plans:
    """The judge's payload per candidate, made once per task where the tests do not hold the program."""

    def __init__(self, tasks: Mapping[str, PythonTask], ids: set[str]) -> None:
        """Raises `TaskDataError` when a task's tests or prompt do not compile (before anything runs)."""
        self.tasks = tasks
        self.made: dict[str, bytes] = {}
        for tid in sorted(ids):
            task = tasks[tid]
            problem = syntax_problem(check_code(task, "pass"))
            if problem is None and task.layout == "humaneval":
                problem = syntax_problem(task.prompt)
            if problem is not None:
                raise TaskDataError(
                    f"The tests of task {tid!r} do not compile ({problem}); "
                    "fix the task record (test_list / test / code_context / prompt)."
                )

    def payload(self, tid: str, program: str) -> bytes:
        task = self.tasks[tid]
        if task.layout == "ds1000":
            return _payload(task, check_code(task, program))
        if tid not in self.made:
            self.made[tid] = _payload(task, check_code(task, program))
        return self.made[tid]


def _payload(task: PythonTask, tests: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. DeprecationWarning: invalid escape sequence, in old task files
        code = compile(tests, "<tests>", "exec")
        prelude = task.prompt if task.layout == "humaneval" else ""
        defined = _names(compile(prelude, "<prompt>", "exec"), _STORES, nested=False)
    declared = _declared_names(task)
    used = _names(code, _LOADS, nested=True) - _BUILTINS - defined
    modules = used & _STDLIB - declared
    payload = {
        "prelude": prelude,
        "tests": tests,
        "code": base64.b64encode(marshal.dumps(code)).decode(),
        "modules": sorted(modules),
        "names": sorted(used - modules | declared),
        "snippet": task.layout == "ds1000",
    }
    return json.dumps(payload).encode()


def _names(code: types.CodeType, ops: frozenset[str], nested: bool) -> set[str]:
    """The global names ``code`` (and, if ``nested``, the code nested in it) uses with ``ops``."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ops}
    for const in code.co_consts if nested else ():
        if isinstance(const, types.CodeType):
            names |= _names(const, ops, nested)
    return names


def _declared_names(task: PythonTask) -> set[str]:
    """Names the tests take from the program even where they name a built-in: the entry point and the built-ins the
    reference solution redefines at its top level (MBPP 126 defines ``sum``)."""
    names = {task.entry_point} if task.entry_point else set()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(task.reference or "")
    except (SyntaxError, ValueError):
        return names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in _BUILTINS:
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name) and t.id in _BUILTINS}
    return names
