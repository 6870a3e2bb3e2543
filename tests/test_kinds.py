"""The task-kind seam: a new kind is one class plus one registry entry, and the whole loop runs with it."""

import json
import re
from collections.abc import Mapping, Sequence

import pytest
from conftest import REPO
from datasets import load_from_disk

from codelutra_nb import layout, stages
from codelutra_nb.config import TaskParams, VerifyParams
from codelutra_nb.errors import ConfigError, TaskDataError
from codelutra_nb.jsonl import read_jsonl
from codelutra_nb.kinds import KINDS, Task, TaskKind, get_kind
from codelutra_nb.store import LocalStore
from codelutra_nb.verdicts import Category, Verdict


class ArithKind(TaskKind):
    """Toy kind: the answer to an arithmetic question is the first integer in the output."""

    name = "arith"

    def load_tasks(self, source: str, params: TaskParams) -> list[Task]:
        return [
            Task(task_id=str(r["id"]), kind=self.name, question=r["q"], reference=str(r["a"]))
            for r in read_jsonl(source)
        ]

    def default_template(self, task: Task) -> str:
        return "Answer with a number only. {question}"

    def extract_code(self, text: str) -> str | None:
        match = re.search(r"-?\d+", text)
        return match.group(0) if match else None

    def code_complete(self, text: str) -> bool:
        return re.search(r"-?\d+\D", text) is not None

    def format_answer(self, code: str) -> str:
        return code.strip()

    def verify(
        self,
        tasks: Mapping[str, Task],
        candidates: Sequence[tuple[str, str]],
        params: VerifyParams,
        *,
        progress: bool = True,
    ) -> list[Verdict]:
        verdicts = []
        for task_id, completion in candidates:
            answer = self.extract_code(completion)
            if answer is None:
                verdicts.append(Verdict(Category.SYNTAX_ERROR, "no number"))
            else:
                verdicts.append(
                    Verdict(Category.CORRECT if answer == tasks[task_id].reference else Category.WRONG_ANSWER)
                )
        return verdicts


def test_a_toy_kind_registered_in_one_line_runs_all_five_stages(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, "arith", ArithKind())  # the one registry line
    path = tmp_path / "arith.jsonl"
    path.write_text("".join(json.dumps({"id": i, "q": f"What is {i} + {i}?", "a": 2 * i}) + "\n" for i in range(3)))
    cfg = tiny_cfg.replace(
        task_kind="arith",
        train_tasks=str(path),
        eval_tasks=str(path),
        train_limit=None,
        eval_limit=None,
        baseline=False,
    )
    summaries = stages.run_iteration(cfg)
    assert [s["stage"] for s in summaries] == ["sample", "verify", "pair", "train", "evaluate"]
    store = LocalStore(cfg.run.store_dir)
    verdicts = read_jsonl(store.fetch(1, "verdicts"))
    assert len(verdicts) == 3 * 2 and {v["category"] for v in verdicts} <= {"correct", "wrong_answer", "syntax_error"}
    pairs = load_from_disk(str(store.fetch(1, "preferences")))
    gold = pairs.filter(lambda r: r["chosen_source"] == "gold")
    assert len(gold) > 0 and {r[0]["content"] for r in gold["chosen"]} <= {"0", "2", "4"}
    assert pairs[0]["prompt"][-1]["content"].startswith("Answer with a number only. What is")
    metrics = store.read_json(1, "metrics")
    assert metrics["eval"]["n"] == 3 and metrics["train"]["steps"] > 0


def test_unknown_kind_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"'task_kind'='arith' is not allowed; choose one of \['python', 'sql'\]"):
        TaskParams(task_kind="arith")
    with pytest.raises(ConfigError, match=r"Unknown task kind 'arith'; known kinds: \['python', 'sql'\]"):
        get_kind("arith")


def test_mixed_kinds_and_unknown_ids_fail_before_anything_runs():
    from codelutra_nb.kinds import verify_candidates
    from codelutra_nb.kinds.python import PythonTask
    from codelutra_nb.kinds.sql import SQLTask

    tasks = {
        "s": SQLTask(task_id="s", question="?", reference="SELECT 1", db_id="d", db_path="/nowhere", schema=""),
        "p": PythonTask(task_id="p", question="?", tests="assert True"),
    }
    with pytest.raises(TaskDataError, match="mix task kinds"):
        verify_candidates(tasks, [("s", "SELECT 1"), ("p", "pass")], VerifyParams())
    with pytest.raises(TaskDataError, match=r"unknown task ids, e.g. \['x'\]"):
        verify_candidates(tasks, [("x", "SELECT 1")], VerifyParams())


def test_no_kind_branch_or_artifact_file_name_outside_its_one_place():
    """Kinds are decided only in codelutra_nb/kinds/; artifact file names are written only in layout.py."""
    package = REPO / "codelutra_nb"
    names = [
        n
        for n in (
            *layout.ARTIFACTS.values(),
            layout.PAIRING_STATS,
            layout.TRAINING_LOG,
            layout.PROGRESS_PLOT,
            layout.BEST,
        )
        if "." in n
    ] + [layout.PREFERENCES_SAVED, layout.HUB_CHECKPOINT]  # other names equal their artifact's
    literal = re.compile("[\"'/](" + "|".join(re.escape(n) for n in names) + ")[\"']")
    for path in package.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(package).as_posix()
        if not rel.startswith("kinds/"):
            assert not re.search(r"\b(task_)?kind\s*[=!]=", text), f"{rel} branches on the task kind"
        if rel != "layout.py":
            assert not literal.search(text), f"{rel} spells an artifact's file name; use codelutra_nb.layout"
