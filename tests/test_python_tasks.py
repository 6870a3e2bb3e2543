"""Python task files (MBPP / HumanEval / DS-1000 layouts) and the program a completion stands for."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from codelutra_nb.config import TaskParams, load_config
from codelutra_nb.errors import TaskDataError
from codelutra_nb.kinds import load_tasks
from codelutra_nb.kinds.python.tasks import (
    BUNDLED,
    PythonTask,
    check_code,
    load_python_tasks,
    program_for,
)
from codelutra_nb.kinds.sources import DATA_DIR

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

MBPP_RECORD = {
    "text": "Write a function to add two numbers.",
    "code": "def add(a, b):\r\n    return a + b",
    "task_id": 11,
    "test_setup_code": "",
    "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    "challenge_test_list": [],
}
HUMANEVAL_RECORD = {
    "task_id": "HumanEval/0",
    "prompt": 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum."""\n',
    "canonical_solution": "    return sum(xs)\n",
    "entry_point": "total",
    "test": "\n\ndef check(candidate):\n    assert candidate([1, 2]) == 3\n",
}
DS1000_RECORD = {
    "prompt": "Problem: double x\nA:\n<code>\nx = 2\n</code>\nresult = ... # put solution here\n"
    "BEGIN SOLUTION\n<code>\n",
    "reference_code": "result = x * 2\n",
    "code_context": (
        "def generate_test_case():\n    return 2, 4\n\n"
        "def test_execution(solution: str):\n    x, expected = generate_test_case()\n"
        "    env = {'x': x}\n    exec(solution, env)\n    assert env['result'] == expected\n\n"
        "def test_string(solution: str):\n    assert 'while' not in solution\n"
    ),
    "metadata": {"problem_id": 7, "library": "Numpy"},
}


def mbpp_file() -> Path:
    path = SHARED_DATA / "mbpp" / "mbpp.jsonl"
    if not path.exists():
        pytest.skip(
            f"../shared/data/mbpp not found: {path} holds the original MBPP problems these tests read; "
            "a fresh clone elsewhere has none."
        )
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_mbpp_layout_is_detected_and_ids_become_strings(tmp_path):
    (task,) = load_python_tasks(str(write_jsonl(tmp_path / "t.jsonl", [MBPP_RECORD])))
    assert isinstance(task, PythonTask)
    assert (task.task_id, task.kind, task.layout, task.entry_point) == ("11", "python", "mbpp", None)
    assert task.question == MBPP_RECORD["text"]
    assert task.reference == MBPP_RECORD["code"]
    assert task.prompt_fields() == {
        "question": MBPP_RECORD["text"],
        "tests": "assert add(1, 2) == 3\nassert add(0, 0) == 0",
        "entry_point": "",
        "prompt": "",
    }


def test_humaneval_layout_from_gzip_and_hidden_tests(tmp_path):
    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(HUMANEVAL_RECORD) + "\n")
    (task,) = load_python_tasks(str(path))
    assert (task.task_id, task.layout, task.entry_point) == ("HumanEval/0", "humaneval", "total")
    assert task.prompt == HUMANEVAL_RECORD["prompt"]
    assert task.reference == HUMANEVAL_RECORD["prompt"] + HUMANEVAL_RECORD["canonical_solution"]
    fields = task.prompt_fields()
    assert fields["tests"] == "" and fields["entry_point"] == "total" and fields["prompt"] == task.prompt
    assert check_code(task, "x").rstrip().endswith("check(total)")


def test_ds1000_layout_from_a_json_list(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps([DS1000_RECORD]))
    (task,) = load_python_tasks(str(path))
    assert (task.task_id, task.layout) == ("7", "ds1000")
    assert task.code_context == DS1000_RECORD["code_context"]
    code = check_code(task, "result = x * 2")
    assert "test_execution(__solution__)" in code and "test_string(__solution__)" in code
    namespace: dict = {}
    exec(compile(code, "<tests>", "exec"), namespace)  # the DS-1000 harness accepts the reference


def test_mixed_layouts_in_one_file(tmp_path):
    tasks = load_python_tasks(str(write_jsonl(tmp_path / "mix.jsonl", [MBPP_RECORD, HUMANEVAL_RECORD, DS1000_RECORD])))
    assert [t.layout for t in tasks] == ["mbpp", "humaneval", "ds1000"]


def test_sanitized_mbpp_prompt_and_test_imports(tmp_path):
    record = {
        "task_id": 2,
        "prompt": "Write a function.",
        "code": "import math\ndef f(x): return math.floor(x)",
        "test_imports": ["import math"],
        "test_list": ["assert f(1.5) == math.floor(1.5)"],
    }
    (task,) = load_python_tasks(str(write_jsonl(tmp_path / "s.jsonl", [record])))
    assert task.question == "Write a function." and task.setup == "import math"
    assert check_code(task, task.reference).startswith("import math\n")


def test_mbpp_setup_code_runs_after_the_program(tmp_path):
    record = dict(
        MBPP_RECORD,
        test_setup_code="pair = Pair(1, 2)",
        code="class Pair:\n    def __init__(self, a, b):\n        self.s = a + b",
        test_list=["assert pair.s == 3"],
    )
    (task,) = load_python_tasks(str(write_jsonl(tmp_path / "t.jsonl", [record])))
    namespace: dict = {}
    exec(task.reference, namespace)
    exec(check_code(task, task.reference), namespace)


def test_a_record_fitting_no_layout_names_file_index_and_missing_fields(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [MBPP_RECORD, {"text": "x", "code": "pass"}])
    with pytest.raises(TaskDataError) as err:
        load_python_tasks(str(path))
    message = str(err.value)
    assert str(path) in message and "record 1" in message
    assert "mbpp lacks ['test_list']" in message
    assert "humaneval lacks ['canonical_solution', 'entry_point', 'prompt', 'test']" in message
    assert "ds1000 lacks" in message


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", "holds no tasks"),
        ("{not json\n", "line 1: not valid JSON"),
        ("[1, 2", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
    ],
)
def test_malformed_files(tmp_path, content, expected):
    path = tmp_path / ("t.json" if content.startswith("[") else "t.jsonl")
    path.write_text(content)
    with pytest.raises(TaskDataError, match=expected):
        load_python_tasks(str(path))


def test_missing_file_and_duplicate_ids(tmp_path):
    with pytest.raises(TaskDataError, match=r"not found.*'mbpp' bundled, 'humaneval'.*'hub:DATASET\[:CONFIG\]:SPLIT'"):
        load_python_tasks(str(tmp_path / "nope.jsonl"))
    with pytest.raises(TaskDataError, match="records 0 and 1 share task_id '11'"):
        load_python_tasks(str(write_jsonl(tmp_path / "dup.jsonl", [MBPP_RECORD, MBPP_RECORD])))


def test_humaneval_source_name_reads_the_packaged_file():
    tasks = load_python_tasks("humaneval")
    assert len(tasks) == 164
    assert tasks[0].task_id == "HumanEval/0" and tasks[0].entry_point == "has_close_elements"
    assert all(t.layout == "humaneval" for t in tasks)


@pytest.mark.parametrize(
    "ids, n, first, last",
    [
        ("601-974", 374, "601", "974"),
        ("11-510", 500, "11", "510"),
        ("511-600", 90, "511", "600"),
        ("1-10", 10, "1", "10"),
    ],
)
def test_bundled_mbpp_has_the_974_problems_and_the_standard_splits(ids, n, first, last):
    tasks = load_python_tasks("mbpp")
    assert len(tasks) == 974 and [t.task_id for t in tasks] == [str(i) for i in range(1, 975)]
    assert {t.layout for t in tasks} == {"mbpp"} and all(t.tests.startswith("assert") for t in tasks)
    assert tasks[0].source == str(BUNDLED["mbpp"]) and BUNDLED["mbpp"].is_relative_to(DATA_DIR)
    assert "Node" in next(t for t in tasks if t.task_id == "367").setup
    split = list(load_tasks(TaskParams(task_kind="python", train_tasks="mbpp", train_ids=ids), "train"))
    assert (len(split), split[0], split[-1]) == (n, first, last)


def test_bundled_mbpp_ships_with_its_attribution():
    readme = (BUNDLED["mbpp"].parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "Program Synthesis with Large Language Models" in readme


def test_demo_python_preset_takes_small_fixed_slices_of_the_bundled_splits():
    params = load_config("demo_python").tasks
    train, held_out = list(load_tasks(params, "train")), list(load_tasks(params, "eval"))
    assert train == [str(i) for i in range(601, 601 + len(train))] and 24 <= len(train) <= 40
    assert held_out == [str(i) for i in range(11, 11 + len(held_out))] and 40 <= len(held_out) <= 50


def test_real_mbpp_file_and_id_selection():
    path = mbpp_file()
    tasks = load_python_tasks(str(path))
    assert len(tasks) == 974 and tasks[0].task_id == "1" and tasks[-1].task_id == "974"
    assert {t.layout for t in tasks} == {"mbpp"}
    assert "Node" in next(t for t in tasks if t.task_id == "367").setup
    train = list(load_tasks(TaskParams(task_kind="python", train_tasks=str(path), train_ids="601-974"), "train"))
    assert len(train) == 374 and train[0] == "601"
    assert len(load_tasks(TaskParams(task_kind="python", eval_tasks=str(path), eval_ids="11-510"), "eval")) == 500


# --- program_for -------------------------------------------------------------------------------------------------

MBPP_TASK = PythonTask(task_id="11", question="add", tests="assert add(1, 2) == 3")
HE_TASK = PythonTask(
    task_id="HumanEval/0",
    question=HUMANEVAL_RECORD["prompt"],
    layout="humaneval",
    prompt=HUMANEVAL_RECORD["prompt"],
    entry_point="total",
    tests=HUMANEVAL_RECORD["test"],
)


def test_program_for_plain_and_fenced_with_prose():
    assert program_for(MBPP_TASK, "def add(a, b):\n    return a + b\n") == "def add(a, b):\n    return a + b"
    raw = "Sure! Here it is:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThis adds the numbers."
    assert program_for(MBPP_TASK, raw) == "def add(a, b):\n    return a + b"


def test_program_for_strips_prose_around_unfenced_code():
    raw = "Here is my solution:\nimport math\ndef add(a, b):\n    return a + b\n\nIt returns the sum of a and b."
    assert program_for(MBPP_TASK, raw) == "import math\ndef add(a, b):\n    return a + b"


def test_program_for_without_code_is_none():
    assert program_for(MBPP_TASK, "") is None
    assert program_for(MBPP_TASK, "   \n") is None
    assert program_for(MBPP_TASK, "```python\n\n```") is None


def test_program_for_humaneval_body_continues_the_prompt():
    program = program_for(HE_TASK, "    return sum(xs)\n")
    assert program == HUMANEVAL_RECORD["prompt"] + "    return sum(xs)"
    namespace: dict = {}
    exec(program + "\n" + check_code(HE_TASK, program), namespace)


def test_program_for_humaneval_whole_function_keeps_prompt_imports():
    raw = "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    program = program_for(HE_TASK, raw)
    assert program.startswith("from typing import List") and program.rstrip().endswith("return sum(xs)")
    namespace: dict = {}
    exec(program + "\n" + check_code(HE_TASK, program), namespace)


def test_program_for_humaneval_whole_function_with_future_import_is_kept_alone():
    raw = "from __future__ import annotations\ndef total(xs):\n    return sum(xs)\n"
    assert program_for(HE_TASK, raw) == raw.strip("\n")


def test_program_for_ds1000_drops_the_closing_tag():
    task = PythonTask(
        task_id="7", question="q", layout="ds1000", prompt="p", code_context=DS1000_RECORD["code_context"]
    )
    assert program_for(task, "result = x * 2\n</code>\nEND SOLUTION\nmore text") == "result = x * 2"
