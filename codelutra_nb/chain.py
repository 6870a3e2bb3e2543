"""Chaining the stage notebooks with papermill: what ``notebooks/iterate.ipynb`` runs.

The store is checked once (Hub token, network, repos); each stage notebook then
gets the resolved parameters, so every stage of an iteration runs with exactly
the same values. The stage notebooks of an iteration run one after another in
one kernel (`kernels.StageKernel`: started once, so the imports are paid once;
emptied between notebooks, so each sees only its own variables; a sampling engine
outlives its stage when the next serves the same model, `stages.keeps_engine`). The executed
copies are kept in ``<store>/iter-<t>/notebooks/`` as the record of the run.

A person follows the run in the terminal papermill runs in (`progress.terminal`):
one line per stage as it starts and as it ends, with its numbers read back from
the store, and the bar of the current long step, drawn there by the stage kernel.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from .config import LoopConfig
from .errors import StoreError
from .evaluation import summarize
from .jsonl import read_jsonl
from .kernels import StageKernel
from .progress import say
from .stages import check_stages, iteration_stages, keeps_engine, pairing_line, training_log
from .store import LocalStore, open_store

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebooks(cfg: LoopConfig) -> list[Path]:
    """Execute the stage notebooks of ``cfg.run.iteration`` in order, in one kernel; returns the executed copies."""
    return _run_notebooks(cfg, kernel_per_stage=False)


def _run_notebooks(cfg: LoopConfig, *, kernel_per_stage: bool) -> list[Path]:
    """`run_notebooks`; ``kernel_per_stage`` starts a kernel per notebook instead (benchmarks/chain_overhead.py)."""
    import papermill as pm

    store = open_store(cfg)  # checks the store (Hub token, network) once, before hours of work
    resolved = {k: v for k, v in cfg.to_dict().items() if k not in ("iteration", "force")}
    stages = iteration_stages(cfg, store)
    check_stages(cfg, store, stages)  # a stored artifact made with other values: refused before any notebook runs
    executed = []
    kernel = None
    try:
        for number, stage in enumerate(stages, 1):
            t = stage.iteration(cfg)
            out = store.path(t, "notebooks") / stage.notebook
            out.parent.mkdir(parents=True, exist_ok=True)
            outcome = _OUTCOMES[stage.name]
            done = not cfg.run.force and store.has(t, stage.artifact)
            name = f"iteration {cfg.run.iteration} · {stage.name} ({number}/{len(stages)})"
            say(f"▶ {name}: {stage.notebook}{', done before: reading the store' if done else ''}")
            started = time.perf_counter()
            if kernel is None:
                kernel = StageKernel(kernel_name=_kernel_name(NOTEBOOK_DIR / stage.notebook)).launch()
            else:
                kernel.fresh()
            kernel.run(
                f"__import__('codelutra_nb.sampling').sampling.keep_engine({keeps_engine(cfg, stages, number - 1)})"
            )
            try:
                pm.execute_notebook(
                    str(NOTEBOOK_DIR / stage.notebook),
                    str(out),
                    cwd=os.getcwd(),
                    progress_bar=False,
                    km=kernel,
                    parameters={
                        "preset": None,
                        "iteration": t,
                        "force": cfg.run.force,
                        "params": resolved,
                        "store_checked": True,
                    },
                )
            except BaseException:
                say(f"✗ {name} failed after {_duration(time.perf_counter() - started)}; its notebook: {out}")
                _flush_after_failure(store)
                raise
            finally:
                kernel.close_clients()
            say(f"✓ {name} done in {_duration(time.perf_counter() - started)}: {outcome(cfg, store, t)}")
            store.publish(t, "notebooks")
            executed.append(out)
            if kernel_per_stage:
                kernel.stop()
                kernel = None
        store.flush()  # the small artifacts that waited for a commit (timings, notebooks)
    finally:
        if kernel is not None:
            kernel.stop()
    return executed


def _flush_after_failure(store: LocalStore) -> None:
    """Push what the stages before a failed one left waiting, without hiding the failure if that fails too."""
    try:
        store.flush(wait_minutes=0)
    except StoreError as err:
        say(f"✗ {err}")


def _sampled(cfg: LoopConfig, store: LocalStore, t: int) -> str:
    samples = read_jsonl(store.fetch(t, "samples"))
    return f"{len(samples)} samples of {len({s['task_id'] for s in samples})} questions from M({t - 1})"


def _verified(cfg: LoopConfig, store: LocalStore, t: int) -> str:
    s = summarize(read_jsonl(store.fetch(t, "verdicts")))
    return f"{s['n']} samples, {s['accuracy']:.1%} correct, {s['executable_rate']:.1%} executable"


def _trained(cfg: LoopConfig, store: LocalStore, t: int) -> str:
    return cfg.method.training_line(t, training_log(store, t))


def _evaluated(cfg: LoopConfig, store: LocalStore, t: int) -> str:
    e = store.read_json(t, "metrics")["eval"]
    correct = round(e["accuracy"] * e["n"])
    text = f"M({t}) held-out accuracy {e['accuracy']:.1%} ({correct}/{e['n']}), executable {e['executable_rate']:.1%}"
    if "unseen" in e:
        text += f"; on databases never trained on {e['unseen']['accuracy']:.1%} / {e['unseen']['executable_rate']:.1%}"
    return text


_OUTCOMES: dict[str, Callable[[LoopConfig, LocalStore, int], str]] = {
    "baseline": _evaluated,
    "sample": _sampled,
    "verify": _verified,
    "pair": pairing_line,
    "train": _trained,
    "evaluate": _evaluated,
}
"""Per stage: the numbers its end line shows."""


def _kernel_name(notebook: Path) -> str:
    return json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
