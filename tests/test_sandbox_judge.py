"""The judge and the codec: what crosses between the program and its tests, and what the tests see of it.

The codec is tested in this process (values round-trip; the decoder refuses what is not a value); the judge through
the verifier, one batch per test.
"""

from __future__ import annotations

import collections
import decimal
import enum
import fractions
import math
from types import SimpleNamespace

import pytest

from codelutra_nb.kinds.python import codec
from codelutra_nb.kinds.python.sandbox import isolation_report, verify_python
from codelutra_nb.kinds.python.tasks import PythonTask, load_python_tasks
from codelutra_nb.methods.testgen import run_matrix
from codelutra_nb.verdicts import Category, Verdict

CORRECT, WRONG, RUNTIME = Category.CORRECT, Category.WRONG_ANSWER, Category.RUNTIME_ERROR


def handle(number: int, type_name: str) -> tuple:
    return ("handle", number, type_name)


def round_trip(value: object) -> object:
    return codec.decode(codec.encode(value, lambda x: {"h": [7, type(x).__name__]}), handle)


class Colour(enum.IntEnum):
    RED = 1


Point = collections.namedtuple("Point", "x y")


# ---- the codec ----------------------------------------------------------------------------------------------------


def test_plain_values_round_trip_exactly():
    values = [
        None, True, 0, -5, 2**100_000, -(3**20_000), 1.5, -0.0, math.inf, "é\ud800x", b"\x00\xff", bytearray(b"ab"),
        1 + 2j, [1, [2, (3,)]], (), ("a", (1.0,)), {1, (2, 3)}, frozenset({"x"}), {(1, 2): [3], "k": None, 5: {}},
        collections.Counter("abca"), collections.OrderedDict([("b", 1), ("a", 2)]), collections.deque([1, 2], 5),
        decimal.Decimal("1.10"), fractions.Fraction(3, 7), range(1, 10, 3), int, ValueError,
    ]  # fmt: skip
    for value in values:
        back = round_trip(value)
        assert type(back) is type(value) and back == value, value
    assert list(round_trip({"b": 1, "a": 2})) == ["b", "a"]  # order kept
    assert math.copysign(1, round_trip(-0.0)) == -1 and math.isnan(round_trip(math.nan))
    factory = round_trip(collections.defaultdict(list, {"a": [1]}))
    assert factory == {"a": [1]} and factory["new"] == [] and round_trip(collections.deque([], 5)).maxlen == 5
    views = {"k": 1}
    assert round_trip(views.keys()) == {"k"} and list(round_trip(views.values())) == [1]
    assert round_trip(views.items()) == {("k", 1)}
    assert round_trip(math) is math
    assert codec.decode(b'{"m": "math"}', handle, imports=False) is math  # the judge: only modules it has imported
    assert codec.decode(b'{"m": "codelutra_no_such_module"}', handle, imports=False) == (
        "handle", -1, "module codelutra_no_such_module")  # fmt: skip


def test_iterators_subclasses_and_other_objects():
    drawn = round_trip(map(abs, [-1, -2]))
    assert type(drawn).__name__ == "list_iterator" and list(drawn) == [1, 2]
    assert list(round_trip(i * i for i in range(3))) == [0, 1, 4]
    assert round_trip(Point(1, 2)) == (1, 2) and type(round_trip(Point(1, 2))) is tuple
    assert type(round_trip(Colour.RED)) is int and round_trip(Colour.RED) == 1

    class Anything:
        def __eq__(self, other):
            return True

    assert round_trip(Anything()) == ("handle", 7, "Anything")
    assert round_trip([Anything(), len]) == [("handle", 7, "Anything"), ("handle", 7, "builtin_function_or_method")]


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_what_cannot_be_sent():
    assert round_trip(nested(100)) == nested(100)
    with pytest.raises(codec.CodecError, match="nested more than 100 deep"):
        codec.encode(nested(101), lambda x: None)
    with pytest.raises(codec.CodecError, match="more than the 16 MiB a message holds"):
        codec.encode("x" * (codec.MAX_BYTES + 1), lambda x: None)


def test_a_value_that_holds_itself_or_an_endless_iterator_cannot_be_sent(monkeypatch):
    loop: list = []
    loop.append(loop)
    with pytest.raises(codec.CodecError, match="holds itself"):
        codec.encode(loop, lambda x: None)
    monkeypatch.setattr(codec, "MAX_ITEMS", 1000)
    with pytest.raises(codec.CodecError, match="more than 1,000 items"):
        codec.encode(iter(int, 1), lambda x: None)


@pytest.mark.parametrize(
    "data",
    [
        b'{"t": [1], "s": [2]}',  # two tags
        b'{"zz": 1}',  # unknown tag
        b'{"s": [[1]]}',  # unhashable member
        b'{"d": [[[1], 2]]}',  # unhashable key
        b'{"d": [[1]]}',  # not a pair
        b'{"b": "not base64!"}',
        b'{"i": "12g"}',
        b'{"i": "' + b"f" * 1_000_001 + b'"}',
        b'{"r": [1, 2, 0]}',
        b'{"Fr": [1, 0]}',
        b'{"ty": "print"}',  # a function, not a type
        b'{"m": "os; import sys"}',
        b'{"h": ["1", "x"]}',
        b'{"dd": ["eval", []]}',
        b"[" * 100_000 + b"]" * 100_000,
        b"[1, 2",
        b"\xff\xfe",
        b'{"np": ["O", [1], "AAAAAAAAAAA="]}',  # an object array from raw bytes
        b'{"np": ["<f8", [2], "AAAAAAAAAAA="]}',  # bytes that do not fit the shape
    ],
)
def test_the_decoder_refuses_what_is_not_a_value(data):
    with pytest.raises(codec.CodecError):
        codec.decode(data, handle)


def test_numpy_and_pandas_values_round_trip():
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    arrays = [np.arange(12, dtype=np.int32).reshape(3, 4), np.array(["a", "bc"]), np.array([1.5, np.nan]),
              np.array(["2020-01-01"], dtype="M8[D]"), np.array([[1, "x"], [None, 2.0]], dtype=object)]  # fmt: skip
    for array in arrays:
        back = round_trip(array)
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
    for scalar in (np.float64(1.5), np.int8(-3), np.bool_(True)):
        assert type(round_trip(scalar)) is type(scalar) and round_trip(scalar) == scalar
    frame = pd.DataFrame(
        {"a": [1, 2], "b": ["x", None], "c": pd.Categorical(["u", "v"]), "d": pd.array([1, None], dtype="Int64"),
         "t": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("UTC")},
        index=pd.Index([10, 20], name="k"),
    )  # fmt: skip
    pd.testing.assert_frame_equal(round_trip(frame), frame)
    pd.testing.assert_frame_equal(
        round_trip(pd.DataFrame([[1, 2]], columns=["a", "a"])), pd.DataFrame([[1, 2]], columns=["a", "a"])
    )
    series = pd.Series([1.0, 2.0], index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["x", "y"]), name="s")
    pd.testing.assert_series_equal(round_trip(series), series)
    pd.testing.assert_index_equal(round_trip(pd.RangeIndex(0, 10, 2, name="r")), pd.RangeIndex(0, 10, 2, name="r"))
    assert round_trip(pd.Timestamp("2020-01-01 10:00", tz="US/Eastern")) == pd.Timestamp(
        "2020-01-01 10:00", tz="US/Eastern"
    )
    assert (
        round_trip(pd.Timedelta("1h")) == pd.Timedelta("1h")
        and round_trip(pd.NaT) is pd.NaT
        and round_trip(pd.NA) is pd.NA
    )


# ---- the judge, through the verifier ------------------------------------------------------------------------------


def judge(*cases: tuple[PythonTask, str]) -> list[Verdict]:
    """Verdicts of ``(task, program)`` pairs, in one batch."""
    tasks = {task.task_id: task for task, _ in cases}
    return verify_python(tasks, [(task.task_id, program) for task, program in cases], progress=False)


def mbpp(tid: str, tests: str, setup: str = "") -> PythonTask:
    return PythonTask(task_id=tid, question="?", tests=tests, setup=setup)


def test_every_built_in_exception_of_the_program_arrives_as_a_program_error_of_its_class():
    import builtins

    from codelutra_nb.kinds.python.judge import Channel, ProgramError

    channel = Channel(-1, -1)
    classes = [c for c in vars(builtins).values() if isinstance(c, type) and issubclass(c, Exception)]
    errors = {c: channel.error(c.__name__, "the message") for c in classes}
    assert all(isinstance(e, ProgramError) and str(e) == "the message" for e in errors.values())
    assert sorted(c.__name__ for c, e in errors.items() if not isinstance(e, c)) == ["ExceptionGroup", "MemoryError"]


def test_exceptions_keep_their_class_but_are_the_programs_runtime_errors():
    """A test may catch the program's ``ValueError``; the program's own ``AssertionError`` is not a wrong answer;
    ``sys.exit()`` in a call ends the judgement."""
    raises = PythonTask(
        task_id="HumanEval/x", question="?", layout="humaneval", entry_point="root",
        prompt='def root(x):\n    """The square root."""\n',
        tests="def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n"
        "    else:\n        assert False, 'no ValueError'\n    assert candidate(4) == 2\n",
    )  # fmt: skip
    square = mbpp("sq", "assert square(3) == 9")
    verdicts = judge(
        (raises, "    if x < 0:\n        raise ValueError('negative')\n    return int(x ** 0.5)\n"),
        (raises, "    return int(abs(x) ** 0.5)\n"),
        (square, "def square(x):\n    assert x < 0, 'only negatives'\n    return x * x\n"),
        (square, "def square(x):\n    return x + x\n"),
        (square, "import sys\ndef square(x):\n    sys.exit(3)\n"),
        (square, "def square(x):\n    raise KeyError('k')\n"),
    )
    assert verdicts == [
        Verdict(CORRECT),
        Verdict(WRONG, "AssertionError: no ValueError [test: assert False, 'no ValueError']"),
        Verdict(RUNTIME, "AssertionError: only negatives"),
        Verdict(WRONG, "AssertionError [test: assert square(3) == 9]"),
        Verdict(RUNTIME, "the program exited (SystemExit: 3) during the tests"),
        Verdict(RUNTIME, "KeyError: 'k'"),
    ]


def test_what_the_program_returns_is_compared_as_plain_values():
    evens = mbpp("ev", "assert list(evens(5)) == [0, 2, 4]\nassert sorted(evens(3)) == [0, 2]")
    exact = mbpp("ex", "assert evens(5) == [0, 2, 4]")
    kinds = mbpp(
        "kd",
        "assert pair() == (1, 2)\nassert count('abca') == {'a': 2, 'b': 1, 'c': 1}\n"
        "import math\nassert math.isnan(nan()) and math.copysign(1, minus_zero()) == -1\nassert big() == 2 ** 5000 + 1",
    )
    fields = mbpp("fd", "assert pair().x == 1")
    kinds_program = (
        "from collections import Counter, namedtuple\nP = namedtuple('P', 'x y')\n"
        "def pair():\n    return P(1, 2)\ndef count(s):\n    return Counter(s)\n"
        "def nan():\n    return float('nan')\ndef minus_zero():\n    return -0.0\n"
        "def big():\n    return 2 ** 5000 + 1\n"
    )
    verdicts = judge(
        (evens, "def evens(n):\n    return (i for i in range(n) if i % 2 == 0)\n"),
        (evens, "def evens(n):\n    return filter(lambda i: i % 2 == 0, range(n))\n"),
        (exact, "def evens(n):\n    return (i for i in range(n) if i % 2 == 0)\n"),
        (exact, "def evens(n):\n    return list(range(0, n, 2))\n"),
        (kinds, kinds_program),
        (fields, kinds_program),
    )
    assert [v.category for v in verdicts] == [CORRECT, CORRECT, WRONG, CORRECT, CORRECT, RUNTIME]
    assert verdicts[5].message == "AttributeError: 'tuple' object has no attribute 'x'"  # a namedtuple comes as a tuple


def test_objects_of_the_programs_classes_are_handles():
    """Calling, reading and setting attributes goes to the program; a handle equals only itself."""
    box = mbpp(
        "bx",
        "assert unbox(make(3)) == 3\nassert make(3).v == 3\nb = make(1)\nb.v = 5\nassert unbox(b) == 5\n"
        "assert b == b and b != make(5) and make(1) != 1",
    )
    same = mbpp("sm", "assert make(1) == make(1)")
    program = "class Box:\n    def __init__(self, v):\n        self.v = v\n\n    def __eq__(self, other):\n"
    program += "        return True\n\n\ndef make(v):\n    return Box(v)\n\n\ndef unbox(b):\n    return b.v\n"
    assert judge((box, program), (same, program)) == [
        Verdict(CORRECT),
        Verdict(WRONG, "AssertionError [test: assert make(1) == make(1)]"),
    ]


def test_results_that_cannot_be_sent_and_tests_that_pass_functions_are_runtime_errors():
    task = mbpp("f", "assert f() == 1")
    applies = mbpp("ap", "assert apply(lambda x: x + 1, 2) == 3")
    verdicts = judge(
        (task, "def f():\n    x = []\n    x.append(x)\n    return x\n"),
        (task, "def f():\n    return 'x' * (20 << 20)\n"),
        (applies, "def apply(g, x):\n    return g(x)\n"),
    )
    assert verdicts == [
        Verdict(RUNTIME, "the result cannot be sent: the value is nested more than 100 deep (or holds itself)"),
        Verdict(RUNTIME, "the result cannot be sent: the value takes 20 MiB, more than the 16 MiB a message holds"),
        Verdict(RUNTIME, "TypeError: the tests pass a function to the program, which only receives plain values"),
    ]  # fmt: skip


DS1000_CONTEXT = '''
import numpy as np
import pandas as pd
import copy


def generate_test_case(test_case_id):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    return df, df.assign(c=df["a"] * df["b"])


def exec_test(result, ans):
    try:
        pd.testing.assert_frame_equal(result, ans)
        return 1
    except Exception:
        return 0


exec_context = r"""
import pandas as pd
import numpy as np
df = test_input
[insert]
result = df
"""


def test_execution(solution: str):
    code = exec_context.replace("[insert]", solution)
    test_input, expected_result = generate_test_case(1)
    test_env = {"test_input": copy.deepcopy(test_input)}
    exec(code, test_env)
    assert exec_test(test_env["result"], expected_result)
    assert np.array_equal(test_env["df"]["c"].to_numpy(), [4.0, 10.0, 18.0])
'''


def test_ds1000_runs_its_harness_in_the_judge_and_the_code_in_the_candidate():
    """The harness's exec() runs the solution in the candidate on the sent namespace, and only names without
    dunders come back (never into the tests' own namespace); numpy and pandas travel as values; the packages DS-1000
    declares are importable there, and only where a run has DS-1000 tasks."""
    pytest.importorskip("pandas")
    task = PythonTask(task_id="ds", question="?", layout="ds1000", prompt="<code>", code_context=DS1000_CONTEXT)
    verdicts = judge(
        (task, "df['c'] = df['a'] * df['b']\n</code>"),
        (task, "df['c'] = df['a'] + df['b']"),
        (task, "df = df.assign(c=np.sqrt(df['a']))"),
        (task, "df = undefined_name"),
    )
    assert [v.category for v in verdicts] == [CORRECT, WRONG, WRONG, RUNTIME]
    assert verdicts[3].message == "NameError: name 'undefined_name' is not defined"
    filtered = PythonTask(task_id="dd", question="?", layout="ds1000", prompt="<code>", code_context=(
        "def test_execution(solution):\n    env = {'x': 1}\n    exec(solution, env)\n"
        "    assert env['result'] == 2 and '__sneaky__' not in env and '__builtins__' not in env\n"))  # fmt: skip
    own = PythonTask(task_id="do", question="?", layout="ds1000", prompt="<code>",
                     code_context="def test_execution(solution):\n    exec(solution, globals())\n")  # fmt: skip
    program = "result = x + 1\n__sneaky__ = 1\n__builtins__ = None\n"
    assert judge((filtered, program), (own, program)) == [
        Verdict(CORRECT),  # dunders the code leaves do not come back to the judge
        Verdict(RUNTIME, "TypeError: the tests' exec() must not run the program in the tests' own namespace"),
    ]
    if isolation_report()["allow-listed filesystem"]:
        (without,) = judge((mbpp("np", "assert f() == 1"), "import numpy\ndef f():\n    return 1\n"))
        assert without == Verdict(RUNTIME, "ModuleNotFoundError: No module named 'numpy'")


def test_generated_tests_take_the_names_their_task_declares_from_the_program():
    """PLUM's and DSTC's asserts call MBPP 126's own ``sum`` (its reference redefines the built-in), not the judge's."""
    (task,) = [t for t in load_python_tasks("mbpp") if t.task_id == "126"]
    settings = SimpleNamespace(verification=SimpleNamespace(exec_timeout_s=5.0, exec_memory_mb=1024, workers=1))
    tests = ["assert sum(10, 15) == 6", "assert sum(10, 15) == 7"]
    assert run_matrix([(task, [task.reference], tests)], settings) == [[["correct", "wrong_answer"]]]
