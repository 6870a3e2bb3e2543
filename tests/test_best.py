"""The loop notices regressions: ``versus`` in metrics.json, per-group and unseen-group numbers, the best pointer
(locally and as branch ``best`` on the loopback Hub), ``stop_when_worse``, and the iterate summary.

No model runs: a scripted sampler, registered in `sampling.SAMPLERS` like any backend, answers each held-out question
with its gold query or a wrong one, as the test says for each M(t); the answers are verified for real on two tiny
SQLite databases, ``alpha`` (trained on) and ``beta`` (never trained on).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from hub_server import USER, serving
from micro_model import micro_llama

from codelutra_nb import layout, stages
from codelutra_nb.best import best_of, iteration_report, report, start_line, versus
from codelutra_nb.config import LoopConfig, load_config
from codelutra_nb.errors import ConfigError
from codelutra_nb.evaluation import metrics_table
from codelutra_nb.hub import HubStore
from codelutra_nb.sampling import SAMPLERS
from codelutra_nb.stats import wilson_interval
from codelutra_nb.store import LocalStore

MODEL_REPO = f"{USER}/best-adapters"

EVAL = [  # (task_id, db_id, question, gold query)
    ("a1", "alpha", "What is the largest item id in alpha?", "SELECT max(id) FROM item"),
    ("a2", "alpha", "What is the smallest item id in alpha?", "SELECT min(id) FROM item"),
    ("b1", "beta", "How many items does beta hold?", "SELECT count(*) FROM item"),
    ("b2", "beta", "What is the name of item 2 in beta?", "SELECT name FROM item WHERE id = 2"),
]
TRAIN = [
    ("t1", "alpha", "How many items does alpha hold?", "SELECT count(*) FROM item"),
    ("t2", "alpha", "List the names of alpha's items.", "SELECT name FROM item"),
]


def _metrics(t: int, accuracy: float, **eval_extra) -> dict:
    return {"iteration": t, "eval": {"accuracy": accuracy, "executable_rate": 1.0, "n": 10, **eval_extra}}


# -- regression detection on hand-written histories ------------------------------------------------------------------


def test_versus_improved_tie_worse_and_iteration_zero():
    history = [_metrics(0, 0.2), _metrics(1, 0.4), _metrics(2, 0.3), _metrics(3, 0.4), _metrics(4, 0.5)]
    assert versus(history, 0, 0.2) is None  # the base model has nothing earlier
    assert versus([], 3, 0.9) is None
    assert versus(history, 1, 0.4) == {
        "best_earlier": 0,
        "best_earlier_accuracy": 0.2,
        "previous": 0,
        "previous_accuracy": 0.2,
        "delta_vs_best": 0.2,
        "improved": True,
    }
    worse = versus(history, 2, 0.3)
    assert worse["best_earlier"] == 1 and worse["delta_vs_best"] == -0.1 and worse["improved"] is False
    tie = versus(history, 3, 0.4)  # as good as M(1): no improvement, and M(1) stays the best earlier
    assert (tie["best_earlier"], tie["previous"], tie["previous_accuracy"]) == (1, 2, 0.3)
    assert tie["delta_vs_best"] == 0 and tie["improved"] is False
    assert versus(history, 4, 0.5)["improved"] is True
    # Later iterations are ignored (a forced rerun of an early iteration), and so are unevaluated ones.
    assert versus([*history, {"iteration": 9}], 2, 0.3) == worse
    # The base model counts: a trained model that does not beat it is no improvement.
    assert versus([_metrics(0, 0.5), _metrics(1, 0.3)], 2, 0.4)["improved"] is False


def test_best_is_the_highest_accuracy_and_ties_go_to_the_earlier_iteration():
    assert best_of([]) is None
    assert best_of([_metrics(0, 0.5), _metrics(1, 0.3)])["iteration"] == 0
    assert best_of([_metrics(2, 0.4), _metrics(0, 0.2), _metrics(1, 0.4)])["iteration"] == 1  # any order
    assert best_of([_metrics(0, 0.2), _metrics(1, 0.4), _metrics(2, 0.41)])["iteration"] == 2


def test_report_says_plainly_when_an_iteration_did_not_improve():
    unseen = {"groups": ["beta"], "n": 2, "correct": 1, "accuracy": 0.5, "executable_rate": 1.0}
    history = [_metrics(0, 0.2), _metrics(1, 0.4), _metrics(2, 0.3, unseen=unseen), _metrics(3, 0.4)]
    text = report(history, 2, {"iteration": 1, "adapter": "iter-1/adapter", "hub_adapter": None})
    assert "Did not improve held-out accuracy: 10.0 points below the best earlier iteration, M(1) (40.0%)" in text
    assert "Best so far: iteration 1, M(1) (40.0%); its adapter: iter-1/adapter." in text
    assert "never trained on (beta): accuracy 50.0% over 2 questions" in text
    assert "Did not improve held-out accuracy: the same as the best earlier iteration, M(1)" in report(history, 3)
    assert "Improved: 20.0 points above the best earlier iteration, M(0), the base model (20.0%)" in report(history, 1)
    assert "did not" not in report(history, 0).lower() and "never trained" not in report(history, 1)
    assert report(history, 5) == "M(5) has not been evaluated yet."


def test_start_line_names_the_model_and_says_when_it_is_worse():
    history = [_metrics(0, 0.2), _metrics(1, 0.4), _metrics(2, 0.3)]
    assert start_line(history, 1) == "Iteration 1 starts from M(0), the base model: held-out accuracy 20.0%."
    assert start_line(history, 2) == "Iteration 2 starts from M(1): held-out accuracy 40.0%, the best so far."
    assert start_line(history, 3) == (
        "Iteration 3 starts from M(2): held-out accuracy 30.0%, worse than the best earlier iteration, M(1) (40.0%)."
    )
    assert start_line(history, 4) == "Iteration 4 starts from M(3), not evaluated yet."


# -- the stages on scripted answers ----------------------------------------------------------------------------------


class ScriptedSampler:
    """Answers held-out question ``task_id`` with its gold query when `correct` lists it for the model, else wrongly."""

    correct: ClassVar[dict[int, set[str]]] = {}
    created: ClassVar[list[int]] = []

    def __init__(self, iteration: int):
        self.iteration = iteration

    @classmethod
    def create(cls, model, adapter: Path | None, *, batch_size: int, desc: str) -> ScriptedSampler:
        t = 0 if adapter is None else layout.iteration_of(Path(adapter).parent.name)
        cls.created.append(t)
        return cls(t)

    def generate(self, conversations, settings, seed: int) -> list[list[str]]:
        out = []
        for conversation in conversations:
            prompt = conversation[-1]["content"]
            matches = [row for row in EVAL + TRAIN if row[2] in prompt]
            assert len(matches) == 1, prompt
            task_id, _, _, gold = matches[0]
            query = gold if task_id in self.correct.get(self.iteration, set()) else "SELECT -1"
            out.append([f"```sql\n{query}\n```"] * settings.n)
        return out


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ScriptedSampler]]:
    monkeypatch.setitem(SAMPLERS, "scripted", ScriptedSampler)
    monkeypatch.setattr(ScriptedSampler, "correct", {})
    monkeypatch.setattr(ScriptedSampler, "created", [])
    yield ScriptedSampler


def _spider(root: Path, train: list[tuple]) -> dict:
    """Databases alpha and beta (item: id, name) and train / eval files in Spider's layout; the task parameters."""
    for db in ("alpha", "beta"):
        path = root / "database" / db / f"{db}.sqlite"
        path.parent.mkdir(parents=True)
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
            con.executemany("INSERT INTO item VALUES (?, ?)", [(i, f"{db}-{i}") for i in range(1, 6)])
        con.close()
    for name, rows in (("train", train), ("eval", EVAL)):
        records = [{"task_id": i, "db_id": db, "question": q, "query": gold} for i, db, q, gold in rows]
        (root / f"{name}.json").write_text(json.dumps(records))
    return {
        "train_tasks": str(root / "train.json"),
        "eval_tasks": str(root / "eval.json"),
        "db_dir": str(root / "database"),
    }


def _cfg(tmp_path: Path, train: list[tuple] = TRAIN, **overrides) -> LoopConfig:
    return load_config(
        "demo",
        **_spider(tmp_path / "spider", train),
        store_dir=str(tmp_path / "store"),
        sampler="scripted",
        num_samples=1,
        workers=1,
        **overrides,
    )


def _trained(store: LocalStore, t: int, adapter=None) -> None:
    """What the train and pair stages leave for the evaluate stage: the adapter (with its log) and the pairing stats."""
    with store.writing(t, "adapter") as out:
        if adapter is None:
            out.mkdir()
        else:
            adapter(out)
        (out / layout.TRAINING_LOG).write_text("[]")
    with store.writing(t, "preferences") as out:
        out.mkdir()
        (out / layout.PAIRING_STATS).write_text(json.dumps({"rows": 2}))


# accuracy per iteration: 0.25, 0.5 (best), 0.25 (worse), 0.5 (a tie: not best), 0.75 (best)
SEQUENCE = {0: {"a1"}, 1: {"a1", "a2"}, 2: {"a1"}, 3: {"a1", "b1"}, 4: {"a1", "a2", "b1"}}


def test_evaluations_keep_versus_groups_and_the_best_pointer(tmp_path, scripted):
    cfg = _cfg(tmp_path)
    store = LocalStore(cfg.run.store_dir)
    scripted.correct.update(SEQUENCE)
    expected_best = {0: 0, 1: 1, 2: 1, 3: 1, 4: 4}
    for t in SEQUENCE:
        if t > 0:
            _trained(store, t)
        metrics = stages.evaluate_stage(cfg.replace(iteration=t), store)
        assert store.read_json(t, "metrics") == metrics
        best = store.read_best()
        b = expected_best[t]
        assert best == {
            "iteration": b,
            "accuracy": len(SEQUENCE[b]) / 4,
            "executable_rate": 1.0,
            "n": 4,
            "adapter": f"iter-{b}/adapter" if b else None,
            "hub_adapter": None,
        }, t
        assert (store.root / best["adapter"]).is_dir() if b else best["adapter"] is None
    assert scripted.created == [0, 1, 2, 3, 4]

    history = stages.history(store)
    assert "versus" not in history[0]
    assert history[1]["versus"] == {
        "best_earlier": 0,
        "best_earlier_accuracy": 0.25,
        "previous": 0,
        "previous_accuracy": 0.25,
        "delta_vs_best": 0.25,
        "improved": True,
        "p_value": 1.0,  # one question more of four (discordant 0 vs 1): within noise
        "within_noise": True,
    }
    assert history[2]["versus"]["improved"] is False and history[2]["versus"]["delta_vs_best"] == -0.25
    assert history[3]["versus"] == {
        "best_earlier": 1,
        "best_earlier_accuracy": 0.5,
        "previous": 2,
        "previous_accuracy": 0.25,
        "delta_vs_best": 0.0,
        "improved": False,
        "p_value": 1.0,
        "within_noise": True,
    }
    assert history[4]["versus"]["improved"] is True and history[4]["versus"]["best_earlier"] == 1

    # Per group, and over the groups never trained on (beta) only, each with its 95% intervals.
    ev = history[3]["eval"]
    group = {"n": 2, "correct": 1, "accuracy": 0.5, "executable_rate": 1.0}
    group |= {"accuracy_ci": list(wilson_interval(1, 2)), "executable_rate_ci": list(wilson_interval(2, 2))}
    assert ev["by_group"] == {"alpha": group, "beta": group}
    assert ev["unseen"] == {"groups": ["beta"], **group}
    assert (ev["accuracy_ci"], ev["executable_rate_ci"]) == (list(wilson_interval(2, 4)), list(wilson_interval(4, 4)))
    assert [m["eval"]["unseen"]["accuracy"] for m in history] == [0.0, 0.0, 0.0, 0.5, 0.5]
    assert list(metrics_table(history)["unseen_accuracy"]) == [0.0, 0.0, 0.0, 0.5, 0.5]

    # A skipped evaluation leaves the metrics alone and rewrites a lost pointer.
    store.best_path().unlink()
    assert stages.evaluate_stage(cfg.replace(iteration=2), store)["skipped"] is True
    assert store.read_best()["iteration"] == 4 and scripted.created == [0, 1, 2, 3, 4]

    text = report(history, 3, store.read_best())
    assert "Did not improve held-out accuracy: the same as the best earlier iteration, M(1) (50.0%)" in text
    assert "Best so far: iteration 4, M(4) (75.0%); its adapter: iter-4/adapter." in text


def test_unseen_counts_only_groups_never_trained_on(tmp_path, scripted):
    scripted.correct[0] = {"a1", "a2"}
    cfg = _cfg(tmp_path, train=[*TRAIN, ("t3", "beta", "How many items are in beta?", "SELECT count(*) FROM item")])
    metrics = stages.baseline_stage(cfg, LocalStore(cfg.run.store_dir))
    assert "unseen" not in metrics["eval"]  # every held-out database was trained on
    assert metrics["eval"]["by_group"]["alpha"]["accuracy"] == 1.0 and metrics["eval"]["by_group"]["beta"]["n"] == 2
    assert "unseen_accuracy" not in metrics_table([metrics]).columns


def test_stop_when_worse_refuses_before_sampling_and_false_goes_on(tmp_path, scripted, capsys, monkeypatch):
    cfg = _cfg(tmp_path)
    store = LocalStore(cfg.run.store_dir)
    scripted.correct.update({0: {"a1"}, 1: {"a1", "a2"}, 2: {"a1"}})
    for t in (0, 1, 2):
        if t > 0:
            _trained(store, t)
        stages.evaluate_stage(cfg.replace(iteration=t), store)
    capsys.readouterr()

    # Starting from the best model: no refusal, and the line says it is the best.
    monkeypatch.setattr(ScriptedSampler, "created", [])
    stages.sample_stage(cfg.replace(iteration=2, stop_when_worse=True), store)
    assert "Iteration 2 starts from M(1): held-out accuracy 50.0%, the best so far." in capsys.readouterr().out

    worse = cfg.replace(iteration=3, stop_when_worse=True)
    with pytest.raises(ConfigError) as refused:
        stages.sample_stage(worse, store)
    message = str(refused.value)
    assert "M(2) is worse than the best iteration so far" in message
    assert "held-out accuracy 25.0% against 50.0% for M(1)" in message and "The best iteration is 1." in message
    assert "set stop_when_worse=false" in message
    out = capsys.readouterr().out
    assert "Iteration 3 starts from M(2): held-out accuracy 25.0%, worse than the best earlier iteration" in out
    assert not store.has(3, "samples") and ScriptedSampler.created == [1]  # only iteration 2's sampling ran

    summary = stages.sample_stage(worse.replace(stop_when_worse=False), store)
    assert summary["samples"] == len(TRAIN) and store.has(3, "samples")
    assert "worse than the best earlier iteration, M(1) (50.0%)" in capsys.readouterr().out


def test_stop_when_worse_is_a_documented_run_parameter_off_by_default():
    from codelutra_nb.config import FIELD_SECTION, RunParams

    assert FIELD_SECTION["stop_when_worse"] == "run" and RunParams().stop_when_worse is False
    assert load_config("demo").run.stop_when_worse is False
    assert load_config("demo", stop_when_worse="true").run.stop_when_worse is True
    with pytest.raises(ConfigError, match="must be true or false"):
        load_config("demo", stop_when_worse="sometimes")


# -- the Hub: branch best ----------------------------------------------------------------------------------------------


def _adapter_of_iteration(t: int):
    """Saves a LoRA adapter whose weights are ``t`` everywhere (``t`` tells which iteration a download is)."""

    def save(path: Path) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(micro_llama(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.fill_(float(t))
        model.save_pretrained(path)

    return save


def _best_weights() -> float:
    """The iteration whose adapter ``PeftModel.from_pretrained(repo, revision="best")`` loads."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(micro_llama(), MODEL_REPO, revision=layout.BEST_BRANCH)
    values = {float(v.flatten()[0]) for k, v in model.state_dict().items() if "lora_" in k}
    assert len(values) == 1
    return values.pop()


def test_hub_branch_best_follows_the_best_iteration(tmp_path, scripted, monkeypatch):
    from huggingface_hub import ModelCard

    cfg = _cfg(tmp_path)
    scripted.correct.update({0: {"a1"}, 1: {"a1", "a2"}, 2: {"a1"}, 3: {"a1", "a2", "b1"}})
    with serving(tmp_path, monkeypatch) as hub:
        store = HubStore(cfg.run.store_dir, model_repo=MODEL_REPO, dataset_repo=None)
        store.preflight()
        repo = hub.repo(MODEL_REPO)

        stages.evaluate_stage(cfg.replace(iteration=0), store)
        assert layout.BEST_BRANCH not in repo.branches  # the base model is best: no adapter to point at
        assert store.read_best()["hub_adapter"] is None

        for t, best in ((1, 1), (2, 1), (3, 3)):
            _trained(store, t, _adapter_of_iteration(t))
            stages.evaluate_stage(cfg.replace(iteration=t), store)
            assert repo.branches[layout.BEST_BRANCH] == repo.branches[f"iter-{best}"], t
            assert _best_weights() == best, t
            assert store.read_best()["hub_adapter"] == f"{MODEL_REPO}@iter-{best}"
            card = ModelCard.load(MODEL_REPO).text
            assert f"**Best iteration so far: {best}**" in card and 'revision="best"' in card

        # Evaluating again (skipped) finds the branch where it is and leaves it there, even with the pointer lost.
        store.best_path().unlink()
        assert stages.evaluate_stage(cfg.replace(iteration=3), store)["skipped"] is True
        assert repo.branches[layout.BEST_BRANCH] == repo.branches["iter-3"]
        assert store.read_best()["iteration"] == 3
        assert f"its adapter: {MODEL_REPO}@iter-3 (also revision 'best')" in iteration_report(store, 3)
        assert hub.unhandled == []


def test_hub_branch_best_goes_away_when_the_base_model_is_best_again(tmp_path, monkeypatch):
    """A forced re-evaluation can lower M(1) below M(0): branch best is then deleted, as the card says."""
    with serving(tmp_path, monkeypatch) as hub:
        store = HubStore(tmp_path / "s", model_repo=MODEL_REPO, dataset_repo=None)
        with store.writing(1, "adapter") as out:
            _adapter_of_iteration(1)(out)
        store.write_best({"iteration": 1, "accuracy": 0.5, "executable_rate": 1.0, "n": 4, "adapter": "iter-1/adapter"})
        assert hub.repo(MODEL_REPO).branches[layout.BEST_BRANCH] == hub.repo(MODEL_REPO).branches["iter-1"]
        store.write_best({"iteration": 0, "accuracy": 0.6, "executable_rate": 1.0, "n": 4, "adapter": None})
        assert layout.BEST_BRANCH not in hub.repo(MODEL_REPO).branches
        assert json.loads(store.best_path().read_text())["hub_adapter"] is None


def test_versus_carries_the_paired_test_against_the_best_earlier_iteration(tmp_path):
    from codelutra_nb.best import paired_with_best
    from codelutra_nb.jsonl import write_jsonl

    store = LocalStore(tmp_path / "store")
    base = [{"task_id": f"q{i}", "category": "correct" if i < 2 else "wrong_answer"} for i in range(20)]
    with store.writing(0, "evaluation") as path:
        write_jsonl(path, base)
    history = [_metrics(0, 0.1)]
    better = [{"task_id": f"q{i}", "category": "correct" if i < 9 else "syntax_error"} for i in range(20)]  # 7 more
    vs = paired_with_best(store, versus(history, 1, 0.45), better)
    assert (vs["p_value"], vs["within_noise"]) == (round(2 / 2**7, 6), False)  # discordant 0 vs 7: exact p = 1/64
    slightly = [{"task_id": f"q{i}", "category": "correct" if i < 3 else "timeout"} for i in range(20)]  # 1 more
    vs = paired_with_best(store, versus(history, 1, 0.15), slightly)
    assert (vs["p_value"], vs["within_noise"]) == (1.0, True)
    text = report([*history, _metrics(1, 0.15) | {"versus": vs}], 1)
    assert "Improved: 5.0 points above the best earlier iteration, M(0), the base model (10.0%) (within noise" in text
    other_questions = [{"task_id": "elsewhere", "category": "correct"}]
    assert "p_value" not in paired_with_best(store, versus(history, 1, 1.0), other_questions)
