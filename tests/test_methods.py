"""The method family behind the ``method`` parameter: selection rules, labels, trainers, and the loop with each."""

from __future__ import annotations

import json

import pytest
from conftest import REPO
from datasets import Dataset, load_from_disk

from codelutra_nb import stages
from codelutra_nb.config import load_config
from codelutra_nb.errors import ConfigError
from codelutra_nb.jsonl import read_jsonl
from codelutra_nb.kinds import Task
from codelutra_nb.kinds.python.tasks import PythonTask
from codelutra_nb.layout import GENERATED_TESTS, PAIRING_STATS, TRAINING_LOG
from codelutra_nb.methods import METHODS
from codelutra_nb.methods import dstc as dstc_module
from codelutra_nb.methods import plum as plum_module
from codelutra_nb.methods.dstc import minimax_select
from codelutra_nb.methods.trainers import DPO, KTO, SFT
from codelutra_nb.store import LocalStore
from codelutra_nb.verdicts import Category, Verdict

ADD = PythonTask(task_id="1", question="Add two numbers.", reference="def add(a, b):\n    return a + b",
                 tests="assert add(1, 2) == 3")  # fmt: skip
REV = PythonTask(task_id="2", question="Reverse a string.", reference="def rev(s):\n    return s[::-1]",
                 tests="assert rev('ab') == 'ba'")  # fmt: skip
GOOD_ADD, BAD_ADD, BROKEN = "def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b", "def add(a, b)\n"


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


def sample(task_id: str, code: str) -> dict:
    """A verified sample; the category from the task's own tests, which plum and dstc must not use."""
    return {"task_id": task_id, "completion": fence(code), "category": "correct"}


# ---- DSTC's minimax selection --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "passes, expected",
    [
        ([[1, 1, 0], [1, 0, 0], [0, 0, 0]], (0, 1, 2, 0)),  # c+ passes most; t+ its rarest passed test; t- ...
        ([[0, 1], [1, 1], [0, 0]], (1, 0, 2, 1)),  # t- is the most passed test that some program fails
        ([[1, 1], [0, 0]], (0, 0, 1, 0)),  # ties (of t+, of t-) go to the lowest index
        ([[1, 0], [1, 0]], (0, 0, 0, 1)),  # every program fails test 1: t- is the only test not passed by all
        ([[0, 0], [0, 0]], (0, None, 0, 0)),  # c+ passes nothing: no chosen test
        ([[1, 1], [1, 1]], (0, 0, None, None)),  # every test passed by every program: no rejected side
        ([[1]], (0, 0, None, None)),
        ([[0]], (0, None, 0, 0)),
        ([], (None, None, None, None)),  # no program
        ([[], []], (None, None, None, None)),  # no test
    ],
)
def test_minimax_selection(passes, expected):
    assert minimax_select([[bool(x) for x in row] for row in passes]) == expected


# ---- trainers ------------------------------------------------------------------------------------------------------


def test_lambda_zero_removes_the_sft_term_and_each_method_picks_its_trainer(tiny_cfg, tmp_path):
    common = {"output_dir": str(tmp_path), "report_to": "none", "use_cpu": True}
    rows = Dataset.from_dict({"label": [True, False, False, False]})
    dual = tiny_cfg.method.make_trainer().config(tiny_cfg.training, common, rows)
    assert (dual.loss_type, dual.loss_weights) == (["sigmoid", "sft"], [1.0, 1.0])
    for name in ("dpo_only", "dstc"):
        alone = tiny_cfg.replace(method=name).method.make_trainer().config(tiny_cfg.training, common, rows)
        assert (alone.loss_type, alone.loss_weights) == (["sigmoid"], [1.0])
    kto = tiny_cfg.replace(method="plum").method.make_trainer()
    assert isinstance(kto, KTO) and kto.columns == ("prompt", "completion", "label")
    config = kto.config(tiny_cfg.training, common, rows)
    assert (config.desirable_weight, config.undesirable_weight) == (3.0, 1.0)  # 1 desirable x 3 = 3 undesirable x 1
    assert isinstance(tiny_cfg.replace(method="plum", trainer="dpo").method.make_trainer(), DPO)
    assert isinstance(tiny_cfg.replace(method="dstc", trainer="kto").method.make_trainer(), KTO)
    for name in ("sft_gold", "sft_self"):
        sft = tiny_cfg.replace(method=name).method.make_trainer()
        assert isinstance(sft, SFT) and sft.trainer_class().__name__ == "SFTTrainer"


def test_bad_method_choices_fail_before_any_sampling(tiny_cfg, monkeypatch):
    with pytest.raises(ConfigError, match=r"'method'='lutra' is not allowed; choose one of \['codelutra', 'dpo_only'"):
        tiny_cfg.replace(method="lutra")
    monkeypatch.setattr(stages, "make_sampler", lambda *a, **k: pytest.fail("sampled"))
    store = LocalStore(tiny_cfg.run.store_dir)
    with pytest.raises(ConfigError, match="method 'plum' runs on python tasks only, and task_kind is 'sql'"):
        stages.sample_stage(tiny_cfg.replace(method="plum"), store)
    with pytest.raises(ConfigError, match="'trainer' belongs to method.s. plum, dstc, not to method 'codelutra'"):
        tiny_cfg.replace(trainer="kto")
    assert not store.has(1, "samples")
    no_gold = [Task(task_id="9", kind="sql", question="?", reference=None)]
    with pytest.raises(ConfigError, match=r"'sft_gold' trains on gold solutions, but 1 training tasks have none"):
        tiny_cfg.replace(method="sft_gold").method.check(tiny_cfg, no_gold)
    tiny_cfg.replace(method="sft_self").method.check(tiny_cfg, no_gold)


# ---- rows of each method -------------------------------------------------------------------------------------------


def test_executability_pairs_executable_against_failing_samples_without_gold(tiny_cfg):
    tasks = {"1": ADD, "2": REV}
    verdicts = [
        {"task_id": "1", "completion": fence(BAD_ADD), "category": "wrong_answer"},
        {"task_id": "1", "completion": fence(BROKEN), "category": "syntax_error"},
        {"task_id": "2", "completion": fence("def rev(s):\n    return s"), "category": "wrong_answer"},  # no failure
        {"task_id": "2", "completion": fence("def rev(s):\n    return s[::-1]"), "category": "correct"},
    ]
    rows = tiny_cfg.replace(method="executability").method.build_rows(tasks, verdicts, tiny_cfg, None)
    assert rows.dataset["task_id"] == ["1", "1"] and set(rows.dataset["chosen_source"]) == {"sample"}
    assert {c[0]["content"] for c in rows.dataset["chosen"]} == {fence(BAD_ADD)}  # ran: chosen, though wrong
    assert rows.stats["gold_chosen_tasks"] == 0 and rows.stats["skipped_no_failed"] == 1


def test_sft_rows_come_from_gold_or_from_correct_samples_only(tiny_cfg):
    tasks = {"1": ADD, "2": REV}
    gold = tiny_cfg.replace(method="sft_gold").method.build_rows(tasks, [], tiny_cfg, None).dataset
    assert gold["completion"] == [[{"role": "assistant", "content": fence(ADD.reference)}],
                                  [{"role": "assistant", "content": fence(REV.reference)}]]  # fmt: skip
    verdicts = [{"task_id": "1", "completion": fence(GOOD_ADD), "category": "correct"},
                {"task_id": "1", "completion": fence(BAD_ADD), "category": "wrong_answer"},
                {"task_id": "2", "completion": fence(BROKEN), "category": "syntax_error"}]  # fmt: skip
    skip = tiny_cfg.replace(method="sft_self", no_correct="skip")
    own = skip.method.build_rows(tasks, verdicts, skip, None)
    assert own.dataset["completion"] == [[{"role": "assistant", "content": fence(GOOD_ADD)}]]
    assert own.stats == {"tasks": 2, "tasks_with_correct": 1, "gold_tasks": 0, "degenerate": 0, "rows": 1}
    # no_correct: gold, as CodeLutra's: the question with no correct sample learns its gold, so sft_self and
    # codelutra differ only in the failures
    fallback = tiny_cfg.replace(method="sft_self", no_correct="gold")
    own = fallback.method.build_rows(tasks, verdicts, fallback, None)
    assert own.dataset["completion"] == [[{"role": "assistant", "content": fence(GOOD_ADD)}],
                                         [{"role": "assistant", "content": fence(REV.reference)}]]  # fmt: skip
    assert own.stats["gold_tasks"] == 1
    lutra = tiny_cfg.replace(method="codelutra", no_correct="gold").method.build_rows(tasks, verdicts, tiny_cfg, None)
    assert {c[0]["content"] for c in own.dataset["completion"]} == {c[0]["content"] for c in lutra.dataset["chosen"]}


def test_sft_gold_sees_each_gold_once_per_iteration(tiny_cfg, tmp_path):
    from codelutra_nb.kinds import load_tasks

    cfg = tiny_cfg.replace(method="sft_gold", train_per_iteration=2, epochs=3)  # 4 training questions, 2 a slice
    seen = []
    for t in (1, 2):
        at_t = cfg.replace(iteration=t)
        tasks = load_tasks(at_t.tasks, "train", t)
        at_t.method.check(at_t, list(tasks.values()))
        rows = at_t.method.build_rows(tasks, [], at_t, None).dataset
        assert sorted(rows["task_id"]) == sorted(tasks) and len(set(rows["task_id"])) == len(rows) == 2
        seen.append(set(rows["task_id"]))
    assert not seen[0] & seen[1]  # iteration 2 learns the gold of its own slice, not iteration 1's again
    common = {"output_dir": str(tmp_path), "report_to": "none", "use_cpu": True, "num_train_epochs": 3}
    trainer = cfg.method.make_trainer()
    assert trainer.config(cfg.training, common, Dataset.from_dict({})).num_train_epochs == 1  # once, not 3 times
    assert "epochs" in trainer.ignores and "epochs" not in cfg.replace(method="sft_self").method.make_trainer().ignores
    whole = tiny_cfg.replace(method="sft_gold", iteration=2)
    with pytest.raises(ConfigError, match=r"'sft_gold' at iteration 2 would train on the same gold as iteration 1"):
        whole.method.check(whole, list(load_tasks(whole.tasks, "train", 2).values()))


def plum_generator(monkeypatch, answers: dict[str, list[str]], asked: list | None = None) -> None:
    """The generator answers each question's PLUM prompt with ``answers[question]``, one text per attempt (the last
    repeated when more are asked); ``asked`` collects how it was called (n, temperature, max_new_tokens)."""

    def fake(conversations, cfg, policy, test_generator, n, desc, *, temperature, max_new_tokens):
        if asked is not None:
            asked.append((n, temperature, max_new_tokens))
        texts = [next(a for q, a in answers.items() if q in c[-1]["content"]) for c in conversations]
        return [[t[min(i, len(t) - 1)] for i in range(n)] for t in texts]

    monkeypatch.setattr(plum_module, "generate", fake)


def suite(solution: str, *asserts: str) -> str:
    """A PLUM answer: analysis, the solution, then its asserts."""
    return "It adds.\n" + fence(solution) + "\n" + fence("\n".join(asserts))


def test_plum_keeps_a_generated_suite_only_when_its_own_solution_passes_all_of_it(tiny_cfg, monkeypatch):
    asked: list = []
    plum_generator(monkeypatch, {
        "Add two": [suite(GOOD_ADD, "assert add(1, 2) == 3", "assert add(0, 0) == 0"),
                    suite(GOOD_ADD, "assert add(2, 2) == 4", "assert add(2, 2) == 5"),  # one wrong assert: all dropped
                    suite(GOOD_ADD, "assert add(1, 2) == 3", "assert add(5, 5) == 10")],
        "Reverse": [suite("def rev(s):\n    return s", "assert rev('ab') == 'ba'")],  # its solution fails its suite
    }, asked)  # fmt: skip
    tasks = {"1": ADD, "2": REV}
    verdicts = [sample("1", GOOD_ADD), sample("1", BAD_ADD), sample("2", "def rev(s): return s")]
    plum = tiny_cfg.replace(method="plum", test_temperature=0.6, test_max_new_tokens=400)
    assert plum.method.test_attempts == 3
    rows = plum.method.build_rows(tasks, verdicts, plum, None)
    assert asked == [(3, 0.6, 400)]  # 3 answers per question, at test generation's own temperature and length
    written = {r["task_id"]: r for r in rows.extras[GENERATED_TESTS]}
    assert [s["kept"] for s in written["1"]["suites"]] == [True, False, True]
    assert written["1"]["kept"] == ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(5, 5) == 10"]
    assert "assert add(2, 2) == 4" not in written["1"]["kept"]  # right, but its suite was dropped whole
    assert written["2"]["kept"] == [] and len(written["2"]["suites"]) == 3  # every suite dropped: question dropped
    assert rows.stats["generated_suites"] == 6 and rows.stats["kept_suites"] == 2
    assert rows.stats["tasks_with_tests"] == 1 and rows.stats["kept_tests"] == 3
    labels = {r["completion"][0]["content"]: r["label"] for r in rows.dataset}
    assert labels == {fence(GOOD_ADD): True, fence(BAD_ADD): False}


RAISES = "def add(a, b):\n    raise ValueError(a)"  # a runtime error on every test: the program does not run
PARTLY_RAISES = "def add(a, b):\n    if a == 0:\n        raise ValueError(a)\n    return a - b"  # wrong, or raises
LOOPS = "def add(a, b):\n    while True:\n        pass"  # a timeout on every test


@pytest.mark.parametrize(
    "negatives, undesirable",
    [
        ("runnable", {BAD_ADD, PARTLY_RAISES}),  # ran: wrong answers, and an exception on some inputs only
        ("failing", {BAD_ADD}),  # wrong answers only
        ("all", {BAD_ADD, PARTLY_RAISES, RAISES, LOOPS, BROKEN}),
    ],
)
def test_plum_negatives_drop_samples_that_do_not_run(tiny_cfg, monkeypatch, negatives, undesirable):
    plum_generator(monkeypatch, {"Add two": [suite(GOOD_ADD, "assert add(1, 2) == 3", "assert add(0, 0) == 0")]})
    codes = [GOOD_ADD, BAD_ADD, PARTLY_RAISES, RAISES, LOOPS, BROKEN]
    plum = tiny_cfg.replace(method="plum", negatives=negatives, exec_timeout_s=0.5)
    rows = plum.method.build_rows({"1": ADD}, [sample("1", code) for code in codes], plum, None)
    labels = {r["completion"][0]["content"]: r["label"] for r in rows.dataset}
    assert labels == {fence(GOOD_ADD): True} | {fence(code.strip()): False for code in undesirable}
    assert rows.stats["not_negatives"] == len(codes) - 1 - len(undesirable)


def test_plum_dpo_pairs_are_min_of_both_sides_per_question_without_replacement(tiny_cfg, monkeypatch):
    plum_generator(monkeypatch, {
        "Add two": [suite(GOOD_ADD, "assert add(1, 2) == 3", "assert add(2, 3) == 5")],
        "Reverse": [suite("def rev(s):\n    return s[::-1]", "assert rev('ab') == 'ba'", "assert rev('abc') == 'cba'")],
    })  # fmt: skip
    goods = [GOOD_ADD, "def add(a, b):\n    return b + a", "def add(a, b):\n    return sum((a, b))"]
    bads = [BAD_ADD, "def add(a, b):\n    return a * b"]
    rev_bads = ["def rev(s):\n    return s", "def rev(s):\n    return s[1:]", "def rev(s):\n    return ''"]
    verdicts = [sample("1", c) for c in goods + bads]
    verdicts += [sample("2", c) for c in ["def rev(s):\n    return s[::-1]", *rev_bads]]
    plum = tiny_cfg.replace(method="plum", trainer="dpo", num_samples=8)
    rows = plum.method.build_rows({"1": ADD, "2": REV}, verdicts, plum, None).dataset
    by_task = {tid: [(c[0]["content"], r[0]["content"]) for c, r, t in zip(rows["chosen"], rows["rejected"],
                                                                              rows["task_id"]) if t == tid]
               for tid in ("1", "2")}  # fmt: skip
    assert len(by_task["1"]) == 2 and len(by_task["2"]) == 1  # min(3, 2) and min(1, 3), not K = 8
    chosen, rejected = zip(*by_task["1"])
    assert len(set(chosen)) == 2 and set(chosen) <= {fence(g) for g in goods}  # no answer twice
    assert sorted(rejected) == sorted(fence(b) for b in bads)
    assert by_task["2"][0][1] in {fence(b) for b in rev_bads}


def dstc_generator(monkeypatch, answers: dict[str, list[str]]) -> None:
    """The generator answers each question's DSTC prompt (named by its function) with ``answers[name]``, in turn."""

    def fake(conversations, cfg, policy, test_generator, n, desc, *, temperature, max_new_tokens):
        texts = [next(a for name, a in answers.items() if f"`{name}`" in c[-1]["content"]) for c in conversations]
        return [[t[i % len(t)] for i in range(n)] for t in texts]

    monkeypatch.setattr(dstc_module, "generate", fake)


def test_dstc_parses_several_asserts_from_each_code_and_tests_answer(tiny_cfg, monkeypatch):
    dstc_generator(monkeypatch, {
        "add": [suite(GOOD_ADD, "assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 0"),
                suite(BAD_ADD, "assert add(1, 2) == 3", "assert add(3, 1) == 2")],  # its first assert seen before
    })  # fmt: skip
    dstc = tiny_cfg.replace(method="dstc")
    rows = dstc.method.build_rows({"1": ADD}, [sample("1", GOOD_ADD), sample("1", BAD_ADD)], dstc, None)
    [written] = rows.extras[GENERATED_TESTS]
    assert written["tests"] == ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 0",
                                "assert add(3, 1) == 2"]  # fmt: skip
    assert written["passes"] == [[True, True, True, False], [False, False, True, True]]
    assert written["selected"] == [0, 0, 1, 0]
    assert rows.stats["generated_tests"] == 4 and len(rows.dataset) == 1


def test_dstc_selects_code_and_test_by_minimax_and_trains_on_both(tiny_cfg, monkeypatch):
    dstc_generator(monkeypatch, {
        "add": [suite(GOOD_ADD, "assert add(1, 2) == 3"), suite(GOOD_ADD, "assert add(2, 2) == 4")],
        "rev": [suite("def rev(s):\n    return s[::-1]", "assert rev('ab') == 'ba'")],
    })  # fmt: skip
    tasks = {"1": ADD, "2": REV}
    verdicts = [sample("1", GOOD_ADD), sample("1", BAD_ADD), sample("2", "def rev(s):\n    return s[::-1]")]
    dstc = tiny_cfg.replace(method="dstc")
    rows = dstc.method.build_rows(tasks, verdicts, dstc, None)
    selected = {r["task_id"]: r["selected"] for r in rows.extras[GENERATED_TESTS]}
    assert selected == {"1": [0, 0, 1, 0], "2": [0, 0, None, None]}  # every program passes rev's test: no rejected
    assert len(rows.dataset) == 1 and rows.stats["both_feasible"] == 1
    assert rows.dataset[0]["chosen"][0]["content"] == fence(GOOD_ADD) + "\n\n" + fence("assert add(1, 2) == 3")
    assert rows.dataset[0]["rejected"][0]["content"] == fence(BAD_ADD) + "\n\n" + fence("assert add(1, 2) == 3")
    kto = dstc.replace(trainer="kto").method.build_rows(tasks, verdicts, dstc, None).dataset
    assert sorted(zip(kto["task_id"], kto["label"])) == [("1", False), ("1", True), ("2", True)]


def test_dstc_kto_drops_a_question_with_no_feasible_chosen_side(tiny_cfg, monkeypatch):
    dstc_generator(monkeypatch, {
        "add": [suite(GOOD_ADD, "assert add(1, 2) == 3")],
        "rev": [suite("def rev(s):\n    return s", "assert rev('ab') == 'xx'")],  # a wrong test every program fails
    })  # fmt: skip
    tasks = {"1": ADD, "2": REV}
    verdicts = [sample("1", GOOD_ADD), sample("1", BAD_ADD),
                sample("2", "def rev(s):\n    return s[::-1]"), sample("2", "def rev(s):\n    return s")]  # fmt: skip
    dstc = tiny_cfg.replace(method="dstc", trainer="kto")
    rows = dstc.method.build_rows(tasks, verdicts, dstc, None)
    selected = {r["task_id"]: r["selected"] for r in rows.extras[GENERATED_TESTS]}
    assert selected["2"] == [0, None, 0, 0]  # c+ passes no test: no chosen side, though a rejected one is feasible
    assert sorted(zip(rows.dataset["task_id"], rows.dataset["label"])) == [("1", False), ("1", True)]
    assert rows.stats["dropped_no_chosen"] == 1


# ---- the loop with each method -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["executability", "dpo_only", "sft_gold", "sft_self"])
def test_each_sql_method_runs_the_five_stages(tiny_cfg, name, monkeypatch):
    cfg = tiny_cfg.replace(method=name, baseline=False)
    forced = {"sft_self": Category.CORRECT, "executability": Category.WRONG_ANSWER}.get(name)
    if forced:  # a random model writes no query that runs: make the first sample of each question this category
        verify = stages.verify_candidates

        def first_forced(tasks, candidates, params, **kwargs):
            verdicts = verify(tasks, candidates, params, **kwargs)
            return [Verdict(forced) if i % 2 == 0 else v for i, v in enumerate(verdicts)]

        monkeypatch.setattr(stages, "verify_candidates", first_forced)
    summaries = stages.run_iteration(cfg)
    assert [s["stage"] for s in summaries] == ["sample", "verify", "pair", "train", "evaluate"]
    store = LocalStore(cfg.run.store_dir)
    metrics = store.read_json(1, "metrics")
    assert metrics["config"]["method"] == name and metrics["eval"]["n"] == 3 and metrics["train"]["steps"] > 0
    rows = load_from_disk(str(store.fetch(1, "preferences")))
    assert json.loads((store.fetch(1, "preferences") / PAIRING_STATS).read_text())["rows"] == len(rows) > 0
    samples = read_jsonl(store.fetch(1, "samples"))
    assert len(samples) == (0 if name == "sft_gold" else 4 * 2)  # sft_gold samples nothing
    log = (store.fetch(1, "adapter") / TRAINING_LOG).read_text()
    assert ("rewards/margins" in log) == (name in ("executability", "dpo_only"))  # the SFT methods: no preference


@pytest.mark.parametrize("name", ["plum", "dstc"])
def test_plum_and_dstc_run_the_five_stages_on_python_tasks(tiny_cfg, tmp_path, monkeypatch, name):
    problems = [{"task_id": 1, "text": "Add two numbers.", "code": GOOD_ADD, "test_list": ["assert add(1, 2) == 3"]},
                {"task_id": 2, "text": "Subtract two numbers.", "code": "def sub(a, b):\n    return a - b",
                 "test_list": ["assert sub(3, 2) == 1"]}]  # fmt: skip
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    answer = {"add": fence(GOOD_ADD) + "\n" + fence("assert add(1, 2) == 3"),
              "sub": fence("def sub(a, b):\n    return a - b") + "\n" + fence("assert sub(3, 2) == 1")}  # fmt: skip

    def fake(conversations, cfg, policy, test_generator, n, desc, **generation):
        return [[answer["add" if "`add`" in c[-1]["content"] else "sub"]] * n for c in conversations]

    monkeypatch.setattr(plum_module if name == "plum" else dstc_module, "generate", fake)
    sampler_of = stages.make_sampler

    def half_right(*args, **kwargs):  # the random model writes nothing runnable: make every other sample right
        sampler = sampler_of(*args, **kwargs)
        generate = sampler.generate

        def texts(conversations, settings, seed):
            out = generate(conversations, settings, seed)
            if settings.n == 1:
                return out
            return [[fence(problems[q]["code"]) if j % 2 == 0 else t for j, t in enumerate(row)]
                    for q, row in enumerate(out)]  # fmt: skip

        sampler.generate = texts
        return sampler

    monkeypatch.setattr(stages, "make_sampler", half_right)
    cfg = tiny_cfg.replace(method=name, task_kind="python", train_tasks=str(path), eval_tasks=str(path),
                           train_limit=None, eval_limit=None, baseline=False)  # fmt: skip
    summaries = stages.run_iteration(cfg)
    assert [s["stage"] for s in summaries] == ["sample", "verify", "pair", "train", "evaluate"]
    store = LocalStore(cfg.run.store_dir)
    written = read_jsonl(store.fetch(1, "preferences") / GENERATED_TESTS)
    assert [w["task_id"] for w in written] == ["1", "2"]
    assert store.read_json(1, "metrics")["train"]["steps"] > 0 and store.read_json(1, "metrics")["eval"]["n"] == 2


def test_every_registered_method_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for name in METHODS:
        assert f"`{name}`" in readme, f"README does not describe method {name}"
    assert load_config(method="dstc", task_kind="python").run.method == "dstc"


def test_a_model_answer_of_blank_lines_is_read_in_linear_time():
    """`solution_block`'s ``def`` search stays within a line: a fenced block of 200,000 blank lines and code that
    defines nothing (with ``^\\s*`` each line start scans to the end: about a minute here) is read at once; an alarm
    stops the test long before a quadratic search would end."""
    import signal

    from codelutra_nb.methods.testgen import solution_block

    def too_slow(*_):
        raise TimeoutError("solution_block searched the blank lines quadratically")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)
    try:
        assert solution_block("```python\n" + "\n" * 200_000 + "x = 1\n```") is None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
