"""Stage 5: execution accuracy (pass@1) of a model on held-out questions, executable rate, error breakdown, plots.

`evaluate` generates one answer per question and judges it; the evaluate stage
and `evaluate_model` (``python -m codelutra_nb evaluate``: any base model or
adapter, no run store) both call it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import parallel
from .config import LoopConfig, load_config
from .jsonl import write_jsonl
from .kinds import get_kind, load_tasks, verify_candidates
from .layout import ARTIFACTS
from .prompts import messages_for
from .stats import wilson_interval
from .verdicts import CATEGORIES


def evaluate(cfg: LoopConfig, adapter: Path | None, *, desc: str = "evaluating") -> tuple[list[dict], dict]:
    """One answer of base + ``adapter`` per held-out question of ``cfg``, judged; and their summary.

    Returns the records (``task_id``, ``db_id`` (the task's `Task.group`), ``completion`` and the verdict) and
    ``{"eval": summarize(records) | {"by_group": summarize_groups(records)}, "eval_by_database": summarize_by(records,
    "db_id")}`` (``by_group``: n, correct, accuracy and executable rate per group; ``eval_by_database``: the whole
    `summarize` per group, categories included), every summary with the 95% intervals of `with_intervals`.

    In a group of processes (`codelutra_nb.parallel`) every process calls it: they share the generation, rank 0
    judges, and each gets the same records and summary.
    """
    from .sampling import GenerationSettings, close, make_sampler  # torch and transformers: only when generating

    ev = cfg.evaluation
    tasks = load_tasks(cfg.tasks, "eval")
    ordered = list(tasks.values())
    conversations = [messages_for(task, cfg.tasks) for task in ordered]
    settings = GenerationSettings(
        1,
        ev.eval_temperature,
        ev.eval_top_p,
        ev.eval_max_new_tokens,
        ev.eval_greedy,
        stop=get_kind(cfg.tasks.task_kind).code_complete,
    )
    sampler = make_sampler(cfg.sampling.sampler, cfg.model, adapter, batch_size=ev.eval_batch_size, desc=desc, cfg=cfg)
    try:
        answers = [texts[0] for texts in sampler.generate(conversations, settings, seed=cfg.run.seed)]
    finally:
        close(sampler)  # an engine process ends here
    judged = [(task.task_id, a) for task, a in zip(ordered, answers)]
    verdicts = parallel.on_main(lambda: verify_candidates(tasks, judged, cfg.verification))  # once, in a group
    records = [
        {"task_id": task.task_id, "db_id": task.group, "completion": answer, **v.to_dict()}
        for task, answer, v in zip(ordered, answers, verdicts)
    ]
    return records, {
        "eval": with_intervals(summarize(records)) | {"by_group": summarize_groups(records)},
        "eval_by_database": {name: with_intervals(s) for name, s in summarize_by(records, "db_id").items()},
    }


def evaluate_model(out: str | Path, adapter: str | Path | None = None, **params: Any) -> dict:
    """Execution accuracy / pass@1 of any base model or adapter on any task set, without a run store.

    Paste into a cell, e.g. ``evaluate_model("eval-iter-2", adapter="you/codelutra-adapters@iter-2",
    base_model="Qwen/Qwen2.5-Coder-7B-Instruct", load_in_4bit=True, eval_tasks="dev.json", db_dir="database")``.

    Args:
        out: Folder that receives ``metrics.json`` (a run's format, plus ``adapter``) and ``eval.jsonl`` (the
            answers with their verdicts).
        adapter: A PEFT adapter folder or Hub model repo ``namespace/name[@revision]``; None: the base model alone.
        **params: Parameters by their flat names (``base_model``, ``task_kind``, ``eval_tasks``, ``db_dir``,
            ``eval_limit``, ``eval_greedy``, ``dtype``, ``seed`` ...); the others keep their defaults.

    Returns:
        The metrics written to ``out``.
    """
    from .models import resolve_adapter  # torch: only when evaluating

    cfg = load_config(None, **params)
    adapter = str(adapter) if adapter is not None else None
    folder = resolve_adapter(adapter) if adapter is not None else None
    started = time.perf_counter()
    records, summary = evaluate(cfg, folder, desc=f"evaluating {adapter or cfg.model.base_model}")
    metrics = {
        **summary,
        "adapter": adapter,
        "timings_s": {"evaluate": round(time.perf_counter() - started, 1)},
        "config": cfg.to_dict(),
    }
    if parallel.is_main():
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_jsonl(out / ARTIFACTS["evaluation"], records)
        (out / ARTIFACTS["metrics"]).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def summarize(records: Sequence[dict]) -> dict:
    """``{"accuracy", "executable_rate", "n", "categories"}`` of verified records.

    No intervals here: the verify stage summarizes K samples per question, which are not independent; held-out
    summaries (one answer per question) add them with `with_intervals`.
    """
    n = len(records)
    counts = Counter(r["category"] for r in records)
    categories = {c: counts.get(c, 0) for c in CATEGORIES}
    executable = categories["correct"] + categories["wrong_answer"]
    return {
        "accuracy": categories["correct"] / n if n else 0.0,
        "executable_rate": executable / n if n else 0.0,
        "n": n,
        "categories": categories,
    }


def summarize_by(records: Sequence[dict], key: str) -> dict[str, dict]:
    """`summarize` per value of ``key`` (e.g. per database), for records that have it."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r.get(key) is not None:
            groups.setdefault(str(r[key]), []).append(r)
    return {name: summarize(rs) for name, rs in sorted(groups.items())}


RATES = ("accuracy", "executable_rate")
"""The rates of a held-out summary that carry a 95% interval, ``<rate>_ci``."""


def interval(numbers: Mapping[str, Any], rate: str = "accuracy") -> tuple[float, float]:
    """The 95% Wilson interval of ``numbers[rate]`` over ``numbers["n"]`` questions (a held-out summary of
    ``metrics.json``: ``eval``, ``eval.unseen``, a group). Computed from the rate and n, so metrics files written
    before ``<rate>_ci`` existed read the same."""
    n = int(numbers["n"])
    return wilson_interval(round(float(numbers[rate]) * n), n)


def with_intervals(numbers: dict) -> dict:
    """``numbers`` (one answer per held-out question) with ``accuracy_ci`` and ``executable_rate_ci``: [low, high]."""
    return numbers | {f"{rate}_ci": list(interval(numbers, rate)) for rate in RATES}


def _group_numbers(s: dict) -> dict:
    correct = s["categories"]["correct"]
    return with_intervals(
        {"n": s["n"], "correct": correct, "accuracy": s["accuracy"], "executable_rate": s["executable_rate"]}
    )


def summarize_groups(records: Sequence[dict]) -> dict[str, dict]:
    """``{group: {"n", "correct", "accuracy", "executable_rate", "accuracy_ci", "executable_rate_ci"}}`` per group
    (``db_id``: the task's `Task.group`; SQL: the database); empty when the tasks have no groups."""
    return {name: _group_numbers(s) for name, s in summarize_by(records, "db_id").items()}


def summarize_unseen(records: Sequence[dict], seen: set[str]) -> dict | None:
    """The `summarize_groups` numbers over the records whose group is not in ``seen`` (the training tasks' groups;
    SQL: databases never trained on), with ``groups`` naming them; None when every group is seen."""
    unseen = [r for r in records if r.get("db_id") is not None and str(r["db_id"]) not in seen]
    if not unseen:
        return None
    return {"groups": sorted({str(r["db_id"]) for r in unseen}), **_group_numbers(summarize(unseen))}


def metrics_table(history: Sequence[dict]):
    """One row per iteration: accuracy, executable rate, category counts, and ``unseen_accuracy`` (accuracy on the
    held-out groups never trained on) when an iteration has it (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for m in sorted(history, key=lambda m: m["iteration"]):
        e = m["eval"]
        unseen = e.get("unseen")
        rows.append(
            {
                "iteration": m["iteration"],
                "accuracy": round(e["accuracy"], 4),
                "executable_rate": round(e["executable_rate"], 4),
                "unseen_accuracy": round(unseen["accuracy"], 4) if unseen else float("nan"),
                "n": e["n"],
                **e["categories"],
            }
        )
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).set_index("iteration")
    return table.drop(columns="unseen_accuracy") if table["unseen_accuracy"].isna().all() else table


def plot_history(history: Sequence[dict], path: Path | None = None):
    """Accuracy and executable rate across iterations, beside the error categories of each iteration (drawn in a
    notebook by its inline backend; without a display matplotlib falls back to Agg)."""
    import matplotlib.pyplot as plt

    table = metrics_table(history)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if not table.empty:
        its = list(table.index)
        left.plot(its, table["accuracy"], marker="o", label="execution accuracy")
        left.plot(its, table["executable_rate"], marker="s", label="executable rate")
        left.set_xticks(its)
        bottom = [0.0] * len(its)
        for category in CATEGORIES:
            share = list(table[category] / table["n"])
            right.bar(its, share, bottom=bottom, label=category)
            bottom = [b + s for b, s in zip(bottom, share)]
        right.set_xticks(its)
    left.set(title="Held-out accuracy", xlabel="iteration (0 = base model)", ylim=(0, 1.02))
    left.legend(loc="lower right")
    right.set(title="Outcome of each held-out answer", xlabel="iteration", ylabel="share", ylim=(0, 1.02))
    right.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
