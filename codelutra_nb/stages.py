"""The stages of iteration t, in order, each reading and writing the store; notebooks and the CLI call these.

`STAGES` is the one place that orders the stages and names the notebook and
the artifact of each. A stage whose output exists is skipped unless ``force``,
and refuses before any work when that output was made with other values
(`codelutra_nb.provenance`). Sampling and verification write checkpoint shards
of ``shard_size`` questions, so a crashed run continues after the last finished
shard with the same samples.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import memory_plan, provenance
from .best import announce_start, paired_with_best, update_best, versus
from .config import LoopConfig
from .errors import ConfigError, StoreError, TaskDataError
from .evaluation import evaluate, plot_history, summarize, summarize_unseen
from .jsonl import read_jsonl, write_jsonl
from .kinds import get_kind, load_tasks, verify_candidates
from .layout import CHECKPOINTS, HUB_CHECKPOINT, PAIRING_STATS, PROGRESS_PLOT, TRAINING_LOG
from .pairing import load_rows
from .prompts import messages_for
from .sampling import GenerationSettings, make_sampler
from .sampling import close as close_sampler
from .store import LocalStore


def adapter_of(store: LocalStore, iteration: int) -> Path | None:
    """The adapter that makes M(iteration); None for the base model M(0)."""
    if iteration == 0:
        return None
    return store.fetch(iteration, "adapter")


def sample_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 1: K candidates per training question from M(t-1), written shard by shard.

    First prints which model the iteration starts from and whether it is worse than the best earlier iteration;
    with ``stop_when_worse`` a worse M(t-1) stops the iteration here (`ConfigError`), before any sampling.
    """
    t, run, sampling = cfg.run.iteration, cfg.run, cfg.sampling
    _need_training_iteration(t)
    announce_start(history(store), t, stop_when_worse=run.stop_when_worse)
    if provenance.check(cfg, store, "sample", t):
        return {"stage": "sample", "records": len(read_jsonl(store.fetch(t, "samples"))), "skipped": True}
    tasks = list(load_tasks(cfg.tasks, "train", t).values())
    cfg.method.check(cfg, tasks)  # before any sampling: a method that cannot run on these tasks says why
    provenance.record(cfg, store, "sample", t)
    with _timed(store, t, "sample"):
        if not cfg.method.uses_samples:
            tasks = []
        adapter = adapter_of(store, t - 1)
        settings = GenerationSettings(
            sampling.num_samples,
            sampling.temperature,
            sampling.top_p,
            sampling.max_new_tokens,
            stop=get_kind(cfg.tasks.task_kind).code_complete,
        )
        sampler = None
        shards = _shards(tasks, run.shard_size)
        try:
            for index, shard in enumerate(shards):
                if not shard or (not run.force and store.has_shard(t, "samples", index)):
                    continue
                sampler = sampler or make_sampler(
                    sampling.sampler,
                    cfg.model,
                    adapter,
                    batch_size=sampling.sample_batch_size,
                    desc=f"sampling M({t - 1})",
                    cfg=cfg,
                )
                outputs = sampler.generate(
                    [messages_for(task, cfg.tasks) for task in shard], settings, seed=_shard_seed(cfg, index)
                )
                records = [
                    {"task_id": task.task_id, "sample_index": j, "iteration": t, "completion": text}
                    for task, texts in zip(shard, outputs)
                    for j, text in enumerate(texts)
                ]
                with store.writing_shard(t, "samples", index) as path:
                    write_jsonl(path, records)
        finally:
            close_sampler(sampler)  # an engine process ends with the stage
        records = store.join_shards(t, "samples", len(shards)) if tasks else []
        with store.writing(t, "samples") as path:
            write_jsonl(path, records)
    return {"stage": "sample", "iteration": t, "questions": len(tasks), "samples": len(records)}


def verify_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 2: execute every sample and record its category."""
    t, run = cfg.run.iteration, cfg.run
    _need_training_iteration(t)
    if provenance.check(cfg, store, "verify", t):
        return {"stage": "verify", **summarize(read_jsonl(store.fetch(t, "verdicts"))), "skipped": True}
    provenance.record(cfg, store, "verify", t)
    with _timed(store, t, "verify"):
        tasks = load_tasks(cfg.tasks, "train", t)
        samples = read_jsonl(store.fetch(t, "samples"))
        shards = _shards(samples, run.shard_size * cfg.sampling.num_samples)
        for index, shard in enumerate(shards):
            if not run.force and store.has_shard(t, "verdicts", index):
                continue
            verdicts = verify_candidates(tasks, [(r["task_id"], r["completion"]) for r in shard], cfg.verification)
            with store.writing_shard(t, "verdicts", index) as path:
                write_jsonl(path, [{**r, **v.to_dict()} for r, v in zip(shard, verdicts)])
        records = store.join_shards(t, "verdicts", len(shards))
        with store.writing(t, "verdicts") as path:
            write_jsonl(path, records)
    return {"stage": "verify", "iteration": t, **summarize(records)}


def pair_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 3: iteration t's training rows by the method's rule (CodeLutra: TRL prompt/chosen/rejected)."""
    t = cfg.run.iteration
    _need_training_iteration(t)
    if provenance.check(cfg, store, "pair", t):
        return _pairing_stats(store, t) | {"skipped": True}
    provenance.record(cfg, store, "pair", t)
    with _timed(store, t, "pair"):
        tasks = load_tasks(cfg.tasks, "train", t)
        rows = cfg.method.build_rows(tasks, read_jsonl(store.fetch(t, "verdicts")), cfg, adapter_of(store, t - 1))
        stats = {"stage": "pair", "iteration": t, **rows.stats, "rows": len(rows.dataset)}
        with store.writing(t, "preferences") as path:
            rows.dataset.save_to_disk(str(path))
            (path / PAIRING_STATS).write_text(json.dumps(stats, indent=2))
            for name, records in rows.extras.items():
                write_jsonl(path / name, records)
    return stats


def train_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 4: M(t) = M(t-1) trained by the method (CodeLutra: L_DPO + lambda * L_SFT); the reference is M(t-1)."""
    from .training import train_adapter

    t = cfg.run.iteration
    _need_training_iteration(t)
    if provenance.check(cfg, store, "train", t):
        return _train_summary(cfg, store, t) | {"skipped": True}
    dataset = training_rows(store, t)
    if len(dataset) == 0:
        raise TaskDataError(cfg.method.empty_message(t))
    provenance.record(cfg, store, "train", t)
    with _timed(store, t, "train"):
        previous = adapter_of(store, t - 1)
        checkpoints = store.iteration_dir(t) / CHECKPOINTS
        if cfg.run.force:
            shutil.rmtree(checkpoints, ignore_errors=True)  # a forced rerun must not resume the old training
        made_from = provenance.made_from(cfg, store, "train", t)
        resume_from = None
        if not cfg.run.force and not any(checkpoints.glob("checkpoint-*")):
            resume_from = store.pull_trainer_checkpoint(t, store.iteration_dir(t) / HUB_CHECKPOINT, made_from)
        with store.writing(t, "adapter") as path:
            train_adapter(
                cfg.model,
                cfg.training,
                cfg.method.make_trainer(),
                dataset,
                path,
                previous,
                checkpoints,
                seed=cfg.run.seed,
                callbacks=store.trainer_callbacks(t, made_from),
                resume_from=resume_from,
            )
        store.drop_trainer_checkpoints(t)
    return _train_summary(cfg, store, t)


def evaluate_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 5: pass@1 of M(t) on the held-out questions; writes ``metrics.json`` and ``eval.jsonl``.

    ``eval.unseen`` holds the numbers over held-out questions whose group (SQL: database) no training question
    has, ``versus`` compares M(t) with the best earlier iteration (`best.versus`), and the best pointer is updated
    last (`best.update_best`), also when the stage is skipped.
    """
    t = cfg.run.iteration
    if provenance.check(cfg, store, "evaluate", t):
        metrics = store.read_json(t, "metrics")
        update_best(store, history(store))
        return metrics | {"skipped": True}
    provenance.record(cfg, store, "evaluate", t)
    started = time.perf_counter()
    records, summary = evaluate(cfg, adapter_of(store, t), desc=f"evaluating M({t})")
    trained = {str(task.group) for task in load_tasks(cfg.tasks, "train").values() if task.group is not None}
    unseen = summarize_unseen(records, trained)
    if unseen is not None:
        summary["eval"]["unseen"] = unseen
    with store.writing(t, "evaluation") as path:
        write_jsonl(path, records)
    store.record_time(t, "evaluate", time.perf_counter() - started)
    metrics = {
        "iteration": t,
        **summary,
        "timings_s": store.read_json(t, "timings"),
        "config": cfg.to_dict(),
    }
    if t > 0:
        metrics["train"] = _train_summary(cfg, store, t)
        metrics["pairing"] = _pairing_stats(store, t)
    others = [m for m in history(store) if m["iteration"] != t]
    compared = versus(others, t, summary["eval"]["accuracy"])
    if compared is not None:
        metrics["versus"] = paired_with_best(store, compared, records)
    store.write_json(t, "metrics", metrics)
    update_best(store, [*others, metrics])
    return metrics


def baseline_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 5 for the base model M(0), recorded as iteration 0."""
    return evaluate_stage(cfg.replace(iteration=0), store)


def training_rows(store: LocalStore, t: int):
    """Iteration t's training rows (a `datasets.Dataset`, empty when the method found none)."""
    return load_rows(store.fetch(t, "preferences"))


def training_log(store: LocalStore, t: int) -> list[dict]:
    """The Trainer's log history of iteration t (loss and the trainer's own numbers per step)."""
    return json.loads((store.fetch(t, "adapter") / TRAINING_LOG).read_text())


def history(store: LocalStore) -> list[dict]:
    """metrics.json of every evaluated iteration, ascending."""
    return [store.read_json(t, "metrics") for t in store.iterations_with("metrics")]


def plot_progress(store: LocalStore):
    """Plot of accuracy and error categories across iterations, also saved as ``<store>/progress.png``."""
    store.root.mkdir(parents=True, exist_ok=True)
    return plot_history(history(store), store.root / PROGRESS_PLOT)


@dataclass(frozen=True)
class Stage:
    """One step of the method: the function that runs it, the notebook that runs it as a papermill program, and the
    artifact it makes (there already, made with the same values: the stage is skipped)."""

    name: str
    run: Callable[[LoopConfig, LocalStore], dict]
    notebook: str
    artifact: str
    base_model: bool = False
    """True when the stage works on M(0) and records its results as iteration 0 (the baseline)."""

    def iteration(self, cfg: LoopConfig) -> int:
        """The iteration whose artifacts the stage writes."""
        return 0 if self.base_model else cfg.run.iteration

    @property
    def step(self) -> str:
        """The method's step it runs (`provenance.OUTPUTS`): the baseline is the evaluate step of iteration 0."""
        return "evaluate" if self.base_model else self.name


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("baseline", baseline_stage, "05_evaluate.ipynb", "metrics", base_model=True),
        Stage("sample", sample_stage, "01_sample.ipynb", "samples"),
        Stage("verify", verify_stage, "02_verify.ipynb", "verdicts"),
        Stage("pair", pair_stage, "03_pair.ipynb", "preferences"),
        Stage("train", train_stage, "04_train.ipynb", "adapter"),
        Stage("evaluate", evaluate_stage, "05_evaluate.ipynb", "metrics"),
    )
}
"""Every stage by name, in the order an iteration runs them (``baseline`` only when due)."""


def run_stages(cfg: LoopConfig, stages: Sequence[str], store: LocalStore | None = None) -> list[dict]:
    """Run the named stages in order (``baseline`` evaluates M(0)); returns their summaries."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"Unknown stage(s) {unknown}; stages are {list(STAGES)}.")
    from .store import open_store

    store = store or open_store(cfg)
    check_stages(cfg, store, [STAGES[name] for name in stages])
    return [{"stage": name} | STAGES[name].run(cfg, store) for name in stages]


def check_stages(cfg: LoopConfig, store: LocalStore, stages: Sequence[Stage]) -> None:
    """Before any of ``stages`` runs: refuse (`provenance.check_stages`) when an artifact they would reuse, or the
    base model's evaluation their results are compared with, was made with other values than ``cfg``'s; and on a GPU
    (`memory_plan.preflight`) when torch has no kernels for it or the memory plan of the stages that still have work
    does not fit its free memory."""
    steps = [(stage.step, stage.iteration(cfg)) for stage in stages]
    if cfg.run.iteration > 0 and ("evaluate", 0) not in steps and store.has(0, "metrics"):
        steps.append(("evaluate", 0))
    provenance.check_stages(cfg, store, steps)
    t = cfg.run.iteration
    if ("sample", t) in steps and t > 1 and store.has(t - 1, "adapter") and not store.has(t - 1, "metrics"):
        raise StoreError(
            f"M({t - 1}) was trained but never evaluated (iteration {t - 1} stopped before its evaluate stage), so "
            f"iteration {t} would start from a model nobody scored, and stop_when_worse could not act. Finish "
            f"iteration {t - 1} first: `papermill notebooks/iterate.ipynb out.ipynb -p iteration {t - 1}` (its "
            f"finished stages are skipped) or `python -m codelutra_nb run evaluate --iteration {t - 1}` with this "
            f"run's --preset/--set; then iteration {t}."
        )
    due = {stage.step for stage in stages if cfg.run.force or not store.has(stage.iteration(cfg), stage.artifact)}
    memory_plan.preflight(cfg, due)


def iteration_stages(cfg: LoopConfig, store: LocalStore) -> list[Stage]:
    """What a whole iteration runs: the base-model evaluation first when due, then the five stages."""
    if cfg.run.iteration == 0:
        return [STAGES["baseline"]]
    due = cfg.run.iteration == 1 and cfg.run.baseline and (cfg.run.force or not store.has(0, "metrics"))
    return [stage for name, stage in STAGES.items() if name != "baseline" or due]


def run_iteration(cfg: LoopConfig) -> list[dict]:
    """One whole iteration without notebooks (the CLI's ``iterate``)."""
    from .store import open_store

    store = open_store(cfg)
    summaries = run_stages(cfg, [s.name for s in iteration_stages(cfg, store)], store)
    store.flush()
    return summaries


def _pairing_stats(store: LocalStore, t: int) -> dict:
    return json.loads((store.fetch(t, "preferences") / PAIRING_STATS).read_text())


def _train_summary(cfg: LoopConfig, store: LocalStore, t: int) -> dict:
    return {"stage": "train", "iteration": t, **cfg.method.training_summary(training_log(store, t))}


def _need_training_iteration(t: int) -> None:
    if t < 1:
        raise ConfigError("Iteration 0 is the base model: it has only the evaluate stage (use 'baseline').")


def _shards(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items[:0]]


def _shard_seed(cfg: LoopConfig, index: int) -> int:
    return (cfg.run.seed * 1_000_003 + cfg.run.iteration * 10_007 + index) % 2**31


@contextmanager
def _timed(store: LocalStore, t: int, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    store.record_time(t, stage, time.perf_counter() - started)
