import json

import pytest
from datasets import load_from_disk

from codelutra_nb import stages
from codelutra_nb.best import best_of
from codelutra_nb.errors import ConfigError, StoreError, TaskDataError
from codelutra_nb.jsonl import read_jsonl
from codelutra_nb.kinds import load_tasks
from codelutra_nb.store import LocalStore, open_store


def test_two_iterations_leave_every_artifact(tiny_cfg):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    stages.run_iteration(tiny_cfg)
    stages.run_iteration(tiny_cfg.replace(iteration=2))
    store = LocalStore(tiny_cfg.run.store_dir)
    assert store.iterations_with("metrics") == [0, 1, 2]
    for t in (1, 2):
        pairs = load_from_disk(str(store.fetch(t, "preferences")))
        assert {"prompt", "chosen", "rejected", "task_id", "iteration"} <= set(pairs.column_names)
        assert len(pairs) == 4 * 2 and set(pairs["chosen_source"]) == {"gold"}  # a random model solves nothing
        base = AutoModelForCausalLM.from_pretrained(tiny_cfg.model.base_model)
        assert isinstance(PeftModel.from_pretrained(base, store.fetch(t, "adapter")), PeftModel)
        metrics = store.read_json(t, "metrics")
        assert metrics["iteration"] == t and metrics["eval"]["n"] == 3
        assert set(metrics["eval"]["categories"]) == {
            "correct",
            "wrong_answer",
            "runtime_error",
            "syntax_error",
            "timeout",
        }
        assert set(metrics["timings_s"]) == {"sample", "verify", "pair", "train", "evaluate"}
        assert metrics["train"]["steps"] == 4 and metrics["pairing"]["pairs"] == 8
        assert len(store.fetch(t, "verdicts").read_text().splitlines()) == 4 * 2
    history = stages.history(store)
    assert "versus" not in history[0] and all(m["versus"]["best_earlier"] < m["iteration"] for m in history[1:])
    assert store.read_best()["iteration"] == best_of(history)["iteration"]
    for m in history:
        groups = m["eval"]["by_group"]
        assert sum(g["n"] for g in groups.values()) == 3
        unseen = m["eval"].get("unseen")
        assert unseen is None or unseen["n"] == sum(groups[g]["n"] for g in unseen["groups"])
    stages.plot_progress(store)
    assert (store.root / "progress.png").stat().st_size > 10_000


def test_finished_stage_is_skipped_unless_forced(tiny_cfg, monkeypatch):
    store = open_store(tiny_cfg)
    stages.sample_stage(tiny_cfg, store)
    before = store.fetch(1, "samples").read_text()

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again")

    monkeypatch.setattr(stages, "make_sampler", no_sampling)
    assert stages.sample_stage(tiny_cfg, store)["skipped"] is True
    with pytest.raises(AssertionError, match="sampled again"):
        stages.sample_stage(tiny_cfg.replace(force=True), store)
    assert store.fetch(1, "samples").read_text() == before


def test_crash_mid_sampling_resumes_after_the_last_shard_with_the_same_samples(tiny_cfg, tmp_path, monkeypatch):
    cfg = tiny_cfg.replace(shard_size=1, train_limit=3)
    stages.sample_stage(cfg.replace(store_dir=str(tmp_path / "uninterrupted")), LocalStore(tmp_path / "uninterrupted"))
    expected = (tmp_path / "uninterrupted" / "iter-1" / "samples.jsonl").read_text()

    real_make_sampler = stages.make_sampler
    calls = []
    crash_on_call = [2]

    def crashing_sampler(*args, **kwargs):
        sampler = real_make_sampler(*args, **kwargs)
        generate = sampler.generate

        def generate_then_crash(*a, **k):
            calls.append(1)
            if len(calls) in crash_on_call:
                raise RuntimeError("session died")
            return generate(*a, **k)

        sampler.generate = generate_then_crash
        return sampler

    monkeypatch.setattr(stages, "make_sampler", crashing_sampler)
    store = open_store(cfg)
    with pytest.raises(RuntimeError, match="session died"):
        stages.sample_stage(cfg, store)
    assert store.has_shard(1, "samples", 0) and not store.has_shard(1, "samples", 1) and not store.has(1, "samples")
    calls.clear()
    crash_on_call.clear()
    stages.sample_stage(cfg, store)
    assert len(calls) == 2  # shards 1 and 2 only
    assert store.fetch(1, "samples").read_text() == expected


def test_no_pairs_at_all_is_a_clear_error(tiny_cfg):
    cfg = tiny_cfg.replace(no_correct="skip")
    store = open_store(cfg)
    for stage in (stages.sample_stage, stages.verify_stage, stages.pair_stage):
        stage(cfg, store)
    stats = json.loads((store.fetch(1, "preferences") / "pairing_stats.json").read_text())
    assert stats["pairs"] == 0 and stats["skipped_no_correct"] == 4
    with pytest.raises(TaskDataError, match="no preference pairs.*no_correct: gold"):
        stages.train_stage(cfg, store)
    assert not store.has(1, "adapter")


def test_iteration_two_needs_iteration_one(tiny_cfg):
    with pytest.raises(StoreError, match=r"Iteration 1 has no .adapter.*-p iteration 1"):
        stages.sample_stage(tiny_cfg.replace(iteration=2), open_store(tiny_cfg))
    with pytest.raises(ConfigError, match="Unknown stage"):
        stages.run_stages(tiny_cfg, ["sampel"])


def test_the_same_loop_runs_on_python_tasks(tiny_cfg, tmp_path):
    """Only the task kind differs: MBPP-layout problems go through all five stages."""
    problems = [
        {
            "task_id": 1,
            "text": "Write a function to add two numbers.",
            "code": "def add(a, b):\n    return a + b",
            "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
            "test_setup_code": "",
            "challenge_test_list": [],
        },
        {
            "task_id": 2,
            "text": "Write a function to reverse a string.",
            "code": "def rev(s):\n    return s[::-1]",
            "test_list": ["assert rev('ab') == 'ba'"],
            "test_setup_code": "",
            "challenge_test_list": [],
        },
    ]
    path = tmp_path / "mbpp.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in problems) + "\n")
    cfg = tiny_cfg.replace(
        task_kind="python",
        train_tasks=str(path),
        eval_tasks=str(path),
        train_limit=None,
        eval_limit=None,
        baseline=False,
    )
    summaries = stages.run_iteration(cfg)
    assert [s["stage"] for s in summaries] == ["sample", "verify", "pair", "train", "evaluate"]
    store = LocalStore(cfg.run.store_dir)
    verdicts = [json.loads(line) for line in store.fetch(1, "verdicts").read_text().splitlines()]
    assert len(verdicts) == 4 and all(not v["correct"] for v in verdicts)
    pairs = load_from_disk(str(store.fetch(1, "preferences")))
    assert pairs[0]["chosen"][0]["content"] == "```python\ndef add(a, b):\n    return a + b\n```"
    assert "Your code should pass these tests:\nassert add(1, 2) == 3" in pairs[0]["prompt"][-1]["content"]
    assert store.read_json(1, "metrics")["eval"]["n"] == 2


def test_train_per_iteration_gives_each_iteration_the_next_mixed_slice(tiny_cfg):
    cfg = tiny_cfg.replace(train_limit=None, train_per_iteration=100)
    everything = load_tasks(cfg.tasks, "train")
    slices = [load_tasks(cfg.tasks, "train", t) for t in (1, 2, 3)]
    assert [len(s) for s in slices] == [100, 100, 100]
    assert not set(slices[0]) & set(slices[1])  # consecutive iterations see different questions
    assert set().union(*slices) == set(everything)  # until all were seen, then it wraps around
    assert len({everything[i].group for i in slices[0]}) == len({t.group for t in everything.values()})
    assert load_tasks(cfg.tasks, "train", 1) == slices[0]  # the same slice on every call (a rerun, the pair stage)
    assert load_tasks(cfg.replace(train_per_iteration=None).tasks, "train", 1) == everything


def test_the_sample_stage_samples_only_the_iterations_slice(tiny_cfg):
    cfg = tiny_cfg.replace(train_per_iteration=2)  # of train_limit=4
    store = open_store(cfg)
    stages.sample_stage(cfg, store)
    sampled = {r["task_id"] for r in read_jsonl(store.fetch(1, "samples"))}
    assert sampled == set(load_tasks(cfg.tasks, "train", 1)) and len(sampled) == 2
