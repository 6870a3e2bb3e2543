"""The five stages of iteration t, each reading and writing the store; notebooks and the CLI call these.

A stage whose output exists is skipped unless ``cfg.force``. Sampling and
verification write checkpoint shards of ``cfg.shard_size`` questions, so a
crashed run continues after the last finished shard with the same samples.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .config import LoopConfig
from .errors import TaskDataError
from .evaluation import plot_history, summarize, summarize_by
from .pairing import build_preferences
from .prompts import build_messages
from .sampling import GenerationSettings, make_sampler
from .store import LocalStore
from .tasks import Task, load_tasks
from .verification import verify_candidates

STAGES = ("sample", "verify", "pair", "train", "evaluate")


def make_store(cfg: LoopConfig) -> LocalStore:
    """The local store, or the Hub store when a Hub repo is configured; checked before any long work."""
    from .hub import make_store as make_any_store

    store = make_any_store(cfg)
    store.preflight()
    return store


def train_tasks(cfg: LoopConfig) -> dict[str, Task]:
    return _by_id(load_tasks(cfg.train_tasks, cfg.task_kind, db_dir=cfg.db_dir, ids=cfg.train_ids, limit=cfg.train_limit))


def eval_tasks(cfg: LoopConfig) -> dict[str, Task]:
    return _by_id(load_tasks(cfg.eval_tasks, cfg.task_kind, db_dir=cfg.db_dir, ids=cfg.eval_ids, limit=cfg.eval_limit))


def adapter_of(store: LocalStore, iteration: int) -> Path | None:
    """The adapter that makes M(iteration); None for the base model M(0)."""
    if iteration == 0:
        return None
    return store.fetch(iteration, "adapter")


def sample_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 1: K candidates per training question from M(t-1), written shard by shard."""
    t = cfg.iteration
    _need_training_iteration(t)
    if store.has(t, "samples") and not cfg.force:
        return _skipped("sample", _count_lines(store.fetch(t, "samples")))
    with _timed(store, t, "sample"):
        tasks = list(train_tasks(cfg).values())
        adapter = adapter_of(store, t - 1)
        settings = GenerationSettings(cfg.num_samples, cfg.temperature, cfg.top_p, cfg.max_new_tokens,
                                      stop_kind=cfg.task_kind)
        sampler = None
        shards = _shards(tasks, cfg.shard_size)
        for index, shard in enumerate(shards):
            if not cfg.force and store.has_shard(t, "samples", index):
                continue
            sampler = sampler or make_sampler(cfg, adapter, desc=f"sampling M({t - 1})")
            outputs = sampler.generate([build_messages(task, cfg.prompt_template, cfg.system_prompt) for task in shard],
                                       settings, seed=_shard_seed(cfg, index))
            records = [{"task_id": task.task_id, "sample_index": j, "iteration": t, "completion": text}
                       for task, texts in zip(shard, outputs) for j, text in enumerate(texts)]
            with store.writing_shard(t, "samples", index) as path:
                _write_jsonl(path, records)
        records = _join_shards(store, t, "samples", len(shards))
        with store.writing(t, "samples") as path:
            _write_jsonl(path, records)
    return {"stage": "sample", "iteration": t, "questions": len(tasks), "samples": len(records)}


def verify_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 2: execute every sample and record its category."""
    t = cfg.iteration
    _need_training_iteration(t)
    if store.has(t, "verdicts") and not cfg.force:
        return {"stage": "verify", **summarize(_read_jsonl(store.fetch(t, "verdicts"))), "skipped": True}
    with _timed(store, t, "verify"):
        tasks = train_tasks(cfg)
        samples = _read_jsonl(store.fetch(t, "samples"))
        shards = _shards(samples, cfg.shard_size * cfg.num_samples)
        for index, shard in enumerate(shards):
            if not cfg.force and store.has_shard(t, "verdicts", index):
                continue
            verdicts = verify_candidates(tasks, [(r["task_id"], r["completion"]) for r in shard],
                                         timeout_s=cfg.exec_timeout_s, workers=cfg.workers, max_rows=cfg.max_rows,
                                         memory_mb=cfg.exec_memory_mb)
            with store.writing_shard(t, "verdicts", index) as path:
                _write_jsonl(path, [{**r, **v.to_dict()} for r, v in zip(shard, verdicts)])
        records = _join_shards(store, t, "verdicts", len(shards))
        with store.writing(t, "verdicts") as path:
            _write_jsonl(path, records)
    return {"stage": "verify", "iteration": t, **summarize(records)}


def pair_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 3: the preference dataset of iteration t (TRL prompt/chosen/rejected + metadata)."""
    t = cfg.iteration
    _need_training_iteration(t)
    if store.has(t, "preferences") and not cfg.force:
        return json.loads((store.fetch(t, "preferences") / "pairing_stats.json").read_text()) | {"skipped": True}
    with _timed(store, t, "pair"):
        dataset, stats = build_preferences(train_tasks(cfg), _read_jsonl(store.fetch(t, "verdicts")),
                                           k=cfg.pairs_per_task or cfg.num_samples, no_correct=cfg.no_correct,
                                           iteration=t, seed=cfg.seed + t, template=cfg.prompt_template,
                                           system_prompt=cfg.system_prompt)
        stats = {"stage": "pair", "iteration": t, **stats}
        with store.writing(t, "preferences") as path:
            dataset.save_to_disk(str(path))
            (path / "pairing_stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def train_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 4: M(t) = M(t-1) trained one epoch with L_DPO + lambda * L_SFT; the reference is M(t-1)."""
    from datasets import load_from_disk

    from .training import TRAIN_LOG, train_adapter

    t = cfg.iteration
    _need_training_iteration(t)
    if store.has(t, "adapter") and not cfg.force:
        return _train_summary(t, json.loads((store.fetch(t, "adapter") / TRAIN_LOG).read_text())) | {"skipped": True}
    with _timed(store, t, "train"):
        preferences = store.fetch(t, "preferences")
        if json.loads((preferences / "pairing_stats.json").read_text())["pairs"] == 0:
            raise TaskDataError(
                f"Iteration {t} has no preference pairs: no question had both a correct and a failed sample. "
                "Set no_correct: gold (use the gold solution as chosen), or sample more (num_samples, temperature).")
        dataset = load_from_disk(str(preferences))
        previous = adapter_of(store, t - 1)
        checkpoints = store.iteration_dir(t) / "checkpoints"
        if cfg.force:
            shutil.rmtree(checkpoints, ignore_errors=True)  # a forced rerun must not resume the old training
        resume_from = None
        if not cfg.force and not any(checkpoints.glob("checkpoint-*")):
            resume_from = store.pull_trainer_checkpoint(t, store.iteration_dir(t) / "hub-checkpoint")
        with store.writing(t, "adapter") as path:
            result = train_adapter(cfg, dataset, path, previous, checkpoints, hub_args=store.trainer_hub_args(t),
                                   resume_from=resume_from)
        store.drop_trainer_checkpoints(t)
    return _train_summary(t, result.log_history)


def evaluate_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 5: pass@1 of M(t) on the held-out questions; writes ``metrics.json`` and ``eval.jsonl``."""
    t = cfg.iteration
    if store.has(t, "metrics") and not cfg.force:
        return store.read_json(t, "metrics") | {"skipped": True}
    started = time.perf_counter()
    tasks = eval_tasks(cfg)
    sampler = make_sampler(cfg, adapter_of(store, t), desc=f"evaluating M({t})", batch_size=cfg.eval_batch_size)
    settings = GenerationSettings(1, cfg.eval_temperature, cfg.eval_top_p, cfg.eval_max_new_tokens, cfg.eval_greedy,
                                  stop_kind=cfg.task_kind)
    ordered = list(tasks.values())
    outputs = sampler.generate([build_messages(task, cfg.prompt_template, cfg.system_prompt) for task in ordered],
                               settings, seed=cfg.seed)
    verdicts = verify_candidates(tasks, [(task.task_id, texts[0]) for task, texts in zip(ordered, outputs)],
                                 timeout_s=cfg.exec_timeout_s, workers=cfg.workers, max_rows=cfg.max_rows,
                                         memory_mb=cfg.exec_memory_mb)
    records = [{"task_id": task.task_id, "db_id": getattr(task, "db_id", None), "completion": texts[0], **v.to_dict()}
               for task, texts, v in zip(ordered, outputs, verdicts)]
    with store.writing(t, "evaluation") as path:
        _write_jsonl(path, records)
    _record_time(store, t, "evaluate", time.perf_counter() - started)
    metrics = {"iteration": t, "eval": summarize(records), "eval_by_database": summarize_by(records, "db_id"),
               "timings_s": store.read_json(t, "timings"), "config": cfg.to_dict()}
    if t > 0:
        metrics["train"] = _train_summary(t, json.loads((store.fetch(t, "adapter") / "training_log.json").read_text()))
        metrics["pairing"] = json.loads((store.fetch(t, "preferences") / "pairing_stats.json").read_text())
    store.write_json(t, "metrics", metrics)
    return metrics


def history(store: LocalStore) -> list[dict]:
    """metrics.json of every evaluated iteration, ascending."""
    return [store.read_json(t, "metrics") for t in store.iterations_with("metrics")]


def plot_progress(store: LocalStore):
    """Plot of accuracy and error categories across iterations, also saved as ``<store>/progress.png``."""
    store.root.mkdir(parents=True, exist_ok=True)
    return plot_history(history(store), store.root / "progress.png")


STAGE_FUNCTIONS: dict[str, Callable[[LoopConfig, LocalStore], dict]] = {
    "sample": sample_stage, "verify": verify_stage, "pair": pair_stage, "train": train_stage, "evaluate": evaluate_stage,
}


def run_stages(cfg: LoopConfig, stages: Sequence[str], store: LocalStore | None = None) -> list[dict]:
    """Run the named stages in order (``baseline`` evaluates M(0)); returns their summaries."""
    unknown = [s for s in stages if s not in (*STAGES, "baseline")]
    if unknown:
        raise TaskDataError(f"Unknown stage(s) {unknown}; stages are {['baseline', *STAGES]}.")
    store = store or make_store(cfg)
    summaries = []
    for name in stages:
        if name == "baseline":
            summaries.append({"stage": name} | evaluate_stage(cfg.replace(iteration=0), store))
        else:
            summaries.append({"stage": name} | STAGE_FUNCTIONS[name](cfg, store))
    return summaries


def iteration_stages(cfg: LoopConfig, store: LocalStore) -> list[str]:
    """What a whole iteration runs: the base-model evaluation first when due, then the five stages."""
    if cfg.iteration == 0:
        return ["baseline"]
    due = cfg.iteration == 1 and cfg.baseline and (cfg.force or not store.has(0, "metrics"))
    return (["baseline"] if due else []) + list(STAGES)


def run_iteration(cfg: LoopConfig) -> list[dict]:
    """One whole iteration without notebooks (the CLI's ``iterate``)."""
    store = make_store(cfg)
    return run_stages(cfg, iteration_stages(cfg, store), store)


def _train_summary(t: int, log_history: list[dict]) -> dict:
    steps = [h for h in log_history if "loss" in h and "rewards/margins" in h]
    first, last = (steps[0], steps[-1]) if steps else ({}, {})
    return {"stage": "train", "iteration": t, "steps": len(steps), "first_loss": first.get("loss"),
            "last_loss": last.get("loss"), "first_margin": first.get("rewards/margins"),
            "last_margin": last.get("rewards/margins"), "last_reward_accuracy": last.get("rewards/accuracies")}


def _need_training_iteration(t: int) -> None:
    if t < 1:
        raise TaskDataError("Iteration 0 is the base model: it has only the evaluate stage (use 'baseline').")


def _shards(items: Sequence, size: int) -> list[Sequence]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [items[:0]]


def _shard_seed(cfg: LoopConfig, index: int) -> int:
    return (cfg.seed * 1_000_003 + cfg.iteration * 10_007 + index) % 2**31


def _join_shards(store: LocalStore, t: int, artifact: str, n: int) -> list[dict]:
    records: list[dict] = []
    for index in range(n):
        records.extend(_read_jsonl(store.shard_path(t, artifact, index)))
    return records


@contextmanager
def _timed(store: LocalStore, t: int, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    _record_time(store, t, stage, time.perf_counter() - started)


def _record_time(store: LocalStore, t: int, stage: str, seconds: float) -> None:
    timings = store.read_json(t, "timings") if store.has(t, "timings") else {}
    store.write_json(t, "timings", timings | {stage: round(seconds, 1)})


def _skipped(stage: str, n: int) -> dict:
    return {"stage": stage, "records": n, "skipped": True}


def _by_id(tasks: list[Task]) -> dict[str, Task]:
    return {t.task_id: t for t in tasks}


def _write_jsonl(path: Path, records: Sequence[dict]) -> None:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())
