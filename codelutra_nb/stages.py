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

from . import memory_plan, parallel, provenance
from .best import announce_start, paired_with_best, update_best, versus
from .config import LoopConfig
from .errors import ConfigError, StoreError, TaskDataError
from .evaluation import evaluate, plot_history, summarize, summarize_unseen
from .jsonl import read_jsonl, write_jsonl
from .kinds import get_kind, load_tasks, verify_candidates
from .layout import CHECKPOINTS, HUB_CHECKPOINT, PAIRING_STATS, PROGRESS_PLOT, TRAINING_LOG
from .lengths import PROMPT_TOKENS, prompt_tokens, too_long
from .pairing import load_rows
from .progress import say
from .prompts import messages_for
from .sampling import GenerationSettings, check_sampler, in_one_process, keep_engine, make_sampler
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
    launched = _launched(cfg, store, "sample", t)
    if launched is not None:
        return launched

    def skipped() -> dict | None:
        announce_start(history(store), t, stop_when_worse=run.stop_when_worse)
        if provenance.check(cfg, store, "sample", t):
            return {"stage": "sample", "records": len(read_jsonl(store.fetch(t, "samples"))), "skipped": True}
        return None

    done = parallel.on_main(skipped)
    if done is not None:
        return done
    with parallel.main_first():
        tasks = list(load_tasks(cfg.tasks, "train", t).values())

    def begin() -> Path | None:
        cfg.method.check(cfg, tasks)  # before any sampling: a method that cannot run on these tasks says why
        provenance.record(cfg, store, "sample", t)
        return adapter_of(store, t - 1)

    adapter = parallel.on_main(begin)
    with _timed(store, t, "sample"):
        if not cfg.method.uses_samples:
            tasks = []
        settings = GenerationSettings(
            sampling.num_samples,
            sampling.temperature,
            sampling.top_p,
            sampling.max_new_tokens,
            stop=get_kind(cfg.tasks.task_kind).code_complete,
        )
        sampler = None
        shards = _shards(tasks, run.shard_size)
        missing = parallel.on_main(  # rank 0 may pull a shard from the Hub
            lambda: [i for i, s in enumerate(shards) if s and (run.force or not store.has_shard(t, "samples", i))]
        )
        try:
            for index in missing:
                shard = shards[index]
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
                if parallel.is_main():
                    with store.writing_shard(t, "samples", index) as path:
                        write_jsonl(path, records)
        finally:
            close_sampler(sampler)  # an engine process ends with the stage

        def finish() -> dict:
            records = store.join_shards(t, "samples", len(shards)) if tasks else []
            with store.writing(t, "samples") as path:
                write_jsonl(path, records)
            return {"stage": "sample", "iteration": t, "questions": len(tasks), "samples": len(records)}

        return parallel.on_main(finish)


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
        lengths = too_long(training_rows(store, t), cfg.training.max_length)
        return _pairing_stats(store, t) | {"too_long": lengths.too_long, "skipped": True}
    provenance.record(cfg, store, "pair", t)
    with _timed(store, t, "pair"):
        tasks = load_tasks(cfg.tasks, "train", t)
        rows = cfg.method.build_rows(tasks, read_jsonl(store.fetch(t, "verdicts")), cfg, adapter_of(store, t - 1))
        dataset = rows.dataset.add_column(
            PROMPT_TOKENS, prompt_tokens(rows.dataset, cfg.model) if len(rows.dataset) else []
        )
        stats = {"stage": "pair", "iteration": t, **rows.stats, "rows": len(dataset)}
        stats["longest_prompt"] = max(dataset[PROMPT_TOKENS], default=0)
        with store.writing(t, "preferences") as path:
            dataset.save_to_disk(str(path))
            (path / PAIRING_STATS).write_text(json.dumps(stats, indent=2))
            for name, records in rows.extras.items():
                write_jsonl(path / name, records)
    return stats | {"too_long": too_long(dataset, cfg.training.max_length).too_long}


def train_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 4: M(t) = M(t-1) trained by the method (CodeLutra: L_DPO + lambda * L_SFT); the reference is M(t-1)."""
    from .training import train_adapter

    t = cfg.run.iteration
    _need_training_iteration(t)
    launched = _launched(cfg, store, "train", t)
    if launched is not None:
        return launched
    if parallel.on_main(lambda: provenance.check(cfg, store, "train", t)):
        return parallel.on_main(lambda: _train_summary(cfg, store, t) | {"skipped": True})
    plan = parallel.on_main(lambda: _plan_training(cfg, store, t))
    with _timed(store, t, "train"):
        callbacks = store.trainer_callbacks(t, plan.made_from) if parallel.is_main() else []
        with _writing_on_main(store, t, "adapter") as path:
            train_adapter(
                cfg.model,
                cfg.training,
                cfg.method.make_trainer(),
                load_rows(plan.rows),
                path,
                plan.previous,
                plan.checkpoints,
                seed=cfg.run.seed,
                callbacks=callbacks,
                resume_from=plan.resume_from,
            )
        if parallel.is_main():
            store.drop_trainer_checkpoints(t)
    return parallel.on_main(lambda: _train_summary(cfg, store, t))


@dataclass(frozen=True)
class _TrainingPlan:
    """What rank 0 prepares for training (the other processes read these folders once it has)."""

    rows: Path
    previous: Path | None
    checkpoints: Path
    resume_from: Path | None
    made_from: dict


def _plan_training(cfg: LoopConfig, store: LocalStore, t: int) -> _TrainingPlan:
    """The training rows and M(t-1) fetched, provenance recorded, and where training resumes from."""
    rows = store.fetch(t, "preferences")
    dataset = load_rows(rows)
    if len(dataset) == 0:
        raise TaskDataError(cfg.method.empty_message(t))
    too_long(dataset, cfg.training.max_length).check(t)  # before TRL drops most rows without a word
    provenance.record(cfg, store, "train", t)
    previous = adapter_of(store, t - 1)
    checkpoints = store.iteration_dir(t) / CHECKPOINTS
    if cfg.run.force:
        shutil.rmtree(checkpoints, ignore_errors=True)  # a forced rerun must not resume the old training
    made_from = provenance.made_from(cfg, store, "train", t)
    resume_from = None
    if not cfg.run.force and not any(checkpoints.glob("checkpoint-*")):
        resume_from = store.pull_trainer_checkpoint(t, store.iteration_dir(t) / HUB_CHECKPOINT, made_from)
    return _TrainingPlan(rows, previous, checkpoints, resume_from, made_from)


def evaluate_stage(cfg: LoopConfig, store: LocalStore) -> dict:
    """Stage 5: pass@1 of M(t) on the held-out questions; writes ``metrics.json`` and ``eval.jsonl``.

    ``eval.unseen`` holds the numbers over held-out questions whose group (SQL: database) no training question
    has, ``versus`` compares M(t) with the best earlier iteration (`best.versus`), and the best pointer is updated
    last (`best.update_best`), also when the stage is skipped.
    """
    t = cfg.run.iteration
    launched = _launched(cfg, store, "evaluate", t)
    if launched is not None:
        return launched

    def skipped() -> dict | None:
        if provenance.check(cfg, store, "evaluate", t):
            metrics = store.read_json(t, "metrics")
            update_best(store, history(store))
            return metrics | {"skipped": True}
        provenance.record(cfg, store, "evaluate", t)
        return None

    done = parallel.on_main(skipped)
    if done is not None:
        return done
    started = time.perf_counter()
    records, summary = evaluate(cfg, parallel.on_main(lambda: adapter_of(store, t)), desc=f"evaluating M({t})")
    return parallel.on_main(lambda: _write_evaluation(cfg, store, t, records, summary, started))


def _write_evaluation(
    cfg: LoopConfig, store: LocalStore, t: int, records: list[dict], summary: dict, started: float
) -> dict:
    """The evaluate stage's writes: ``eval.jsonl``, ``metrics.json`` (with the comparison to the best earlier
    iteration) and the best pointer."""
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


def pairing_line(cfg: LoopConfig, store: LocalStore, t: int) -> str:
    """What iteration t's pairing made, in one line (the method's `rows_line`), with how many rows TRL will drop for
    a prompt of ``max_length`` tokens or more."""
    stats = _pairing_stats(store, t)
    line = cfg.method.rows_line(t, stats.get("rows", stats.get("pairs")))  # before 0.2: pairs
    lengths = too_long(training_rows(store, t), cfg.training.max_length)
    return f"{line}; {lengths.line()}" if lengths.too_long else line


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
    serves: Callable[[LoopConfig], int | None] = lambda cfg: None
    """The i of the model M(i) the stage generates with; None when it generates nothing."""

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
        Stage("baseline", baseline_stage, "05_evaluate.ipynb", "metrics", base_model=True, serves=lambda cfg: 0),
        Stage("sample", sample_stage, "01_sample.ipynb", "samples", serves=lambda cfg: cfg.run.iteration - 1),
        Stage("verify", verify_stage, "02_verify.ipynb", "verdicts"),
        Stage(
            "pair",
            pair_stage,
            "03_pair.ipynb",
            "preferences",
            serves=lambda cfg: cfg.run.iteration - 1 if cfg.method.pairs_with_policy else None,
        ),
        Stage("train", train_stage, "04_train.ipynb", "adapter"),
        Stage("evaluate", evaluate_stage, "05_evaluate.ipynb", "metrics", serves=lambda cfg: cfg.run.iteration),
    )
}
"""Every stage by name, in the order an iteration runs them (``baseline`` only when due)."""


def run_stages(
    cfg: LoopConfig, stages: Sequence[str], store: LocalStore | None = None, *, check_store: bool = True
) -> list[dict]:
    """Run the named stages in order (``baseline`` evaluates M(0)); returns their summaries. ``check_store``: check
    the store first (`LocalStore.preflight`); False where the process that started this one did.

    In a group of processes (`codelutra_nb.parallel`) every process calls this: the sample, train and evaluate stages
    share their work, the others run on rank 0 alone.
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"Unknown stage(s) {unknown}; stages are {list(STAGES)}.")
    from .store import open_store

    store = store or open_store(cfg, check=check_store)
    chosen = [STAGES[name] for name in stages]
    parallel.on_main(lambda: check_stages(cfg, store, chosen))
    summaries = []
    try:
        for index, stage in enumerate(chosen):
            keep_engine(keeps_engine(cfg, chosen, index))
            summaries.append({"stage": stage.name} | _run_stage(stage, cfg, store))
    finally:
        keep_engine(False)
    return summaries


def keeps_engine(cfg: LoopConfig, stages: Sequence[Stage], index: int) -> bool:
    """Whether the sampling engine of ``stages[index]`` should outlive it: the next stage generates with the same
    model, with nothing trained between (the base evaluation and the first sampling both serve M(0); plum and dstc
    write tests with the M(t-1) that sampled)."""
    if index + 1 >= len(stages):
        return False
    served = stages[index].serves(cfg)
    return served is not None and served == stages[index + 1].serves(cfg)


def _run_stage(stage: Stage, cfg: LoopConfig, store: LocalStore) -> dict:
    if stage.step in parallel.LAUNCHED_STAGES:
        return stage.run(cfg, store)
    return parallel.on_main(lambda: stage.run(cfg, store))


def check_stages(cfg: LoopConfig, store: LocalStore, stages: Sequence[Stage]) -> None:
    """Before any of ``stages`` runs: refuse (`provenance.check_stages`) when an artifact they would reuse, or the
    base model's evaluation their results are compared with, was made with other values than ``cfg``'s; when their
    sampler cannot run (`sampling.check_sampler`); and on a GPU (`memory_plan.preflight`) when torch has no kernels
    for it or the memory plan of the stages that still have work does not fit its free memory."""
    steps = [(stage.step, stage.iteration(cfg)) for stage in stages]
    if cfg.run.iteration > 0 and ("evaluate", 0) not in steps and store.has(0, "metrics"):
        steps.append(("evaluate", 0))
    provenance.check_stages(cfg, store, steps)
    if any(stage.serves(cfg) is not None for stage in stages):
        check_sampler(cfg)  # sampler: vllm without vLLM: said here, before any stage runs
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
    names = parallel.on_main(lambda: [s.name for s in iteration_stages(cfg, store)])
    summaries = run_stages(cfg, names, store)
    parallel.on_main(store.flush)
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
    if parallel.is_main():
        store.record_time(t, stage, time.perf_counter() - started)


@contextmanager
def _writing_on_main(store: LocalStore, t: int, artifact: str) -> Iterator[Path | None]:
    """`LocalStore.writing` on rank 0; None in the other processes of a group (they write nothing)."""
    if not parallel.is_main():
        yield None
        return
    with store.writing(t, artifact) as path:
        yield path


def _launched(cfg: LoopConfig, store: LocalStore, stage: str, t: int) -> dict | None:
    """With ``num_processes`` > 1, ``stage`` run in that many processes (`parallel.launch`), its summary; None where
    this process runs it: one process asked for, a group already, a vLLM sampler (one process; said), or its output
    is there, made with these values (the stage skips it here)."""
    if not parallel.launches(cfg, stage) or provenance.check(cfg, store, stage, t):
        if parallel.group().size == 1:
            line = parallel.unused_gpus_line(cfg.parallel.num_processes)
            if line is not None:
                say(line)
        return None
    if stage != "train" and in_one_process(cfg):
        say(
            f"{stage}: one process (sampler {cfg.sampling.sampler}: vLLM runs its own engine); num_processes: "
            f"{cfg.parallel.num_processes} applies to training."
        )
        return None
    summary = parallel.launch(cfg, stage)
    store.refresh()  # rank 0 of the group wrote and pushed: what this store knew of the Hub is old
    return summary
