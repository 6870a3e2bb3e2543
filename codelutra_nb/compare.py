"""Several runs side by side: accuracy with its 95% interval, executable rate, outcomes and training rows per
iteration, and which differences between runs are more than noise.

A run is a local store folder (its ``store_dir``) or a Hub dataset repo (its
``hub_dataset_repo``); every evaluated iteration's ``metrics.json`` gives one
row, and its ``eval.jsonl`` (one judged answer per held-out question) the paired
tests. ``notebooks/compare.ipynb`` is the notebook over these functions.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from .config import RunParams
from .errors import StoreError
from .evaluation import interval, metrics_table
from .hub import HubStore
from .jsonl import read_jsonl
from .stats import mcnemar, outcomes
from .store import LocalStore


def open_run(source: str | Path, cache: Path) -> LocalStore:
    """The store of a run: the local folder ``source``, else the Hub dataset repo ``source`` read through ``cache``."""
    path = Path(source).expanduser()
    if path.is_dir():
        return LocalStore(path)
    try:
        return HubStore(cache, model_repo=None, dataset_repo=str(source))
    except StoreError as exc:
        raise StoreError(
            f"Run {str(source)!r}: there is no folder {path}, and it is not a Hub dataset repo id "
            "('namespace/name') either. Give a run's store_dir or its hub_dataset_repo."
        ) from exc


def load_runs(sources: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (run, iteration): ``run``, ``method``, ``iteration``, ``accuracy``, ``executable_rate``,
    ``unseen_accuracy`` (accuracy on held-out groups never trained on; only when some iteration recorded it, NaN
    where one did not), each followed by its 95% Wilson interval (``accuracy_lo``, ``accuracy_hi``, ...), ``n``, the
    count of each outcome category, and ``train_rows`` (rows the iteration trained on; NA for iteration 0).
    """
    if not sources:
        raise StoreError("No runs to compare: give a list of store folders or Hub dataset repos.")
    with tempfile.TemporaryDirectory(prefix="codelutra-compare-") as cache:
        tables = [_run_table(str(source), open_run(source, Path(cache) / str(i))) for i, source in enumerate(sources)]
    return pd.concat(tables, ignore_index=True)


def plot_runs(runs: pd.DataFrame):
    """Accuracy and executable rate per iteration of `load_runs`' table, one line per run and method, each in a band
    of its 95% interval."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for (run, method), rows in runs.groupby(["run", "method"], sort=False):
        for ax, column in zip(axes, ("accuracy", "executable_rate")):
            (line,) = ax.plot(rows["iteration"], rows[column], marker="o", label=f"{run} ({method})")
            ax.fill_between(
                rows["iteration"], rows[f"{column}_lo"], rows[f"{column}_hi"], color=line.get_color(), alpha=0.15
            )
    for ax, title in zip(axes, ("Held-out accuracy", "Executable rate")):
        ax.set(title=title, xlabel="iteration (0 = base model)", ylim=(0, 1.02), xticks=sorted(set(runs["iteration"])))
    axes[0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


PAIRED_COLUMNS = (
    "run_a",
    "iteration_a",
    "run_b",
    "iteration_b",
    "n",
    "accuracy_a",
    "accuracy_b",
    "difference",
    "only_a",
    "only_b",
    "p_value",
    "within_noise",
)


def paired_comparisons(sources: Sequence[str | Path]) -> pd.DataFrame:
    """Which differences between the runs' models are more than noise: McNemar's exact test (`stats.mcnemar`) on the
    held-out questions, one row per comparison (`PAIRED_COLUMNS`).

    The rows: each run's latest evaluated iteration against its base model (iteration 0), when it has both; then,
    for every two runs, their latest iterations against each other. The latest iteration is what a method gives for
    its budget; picking each run's best iteration instead would choose on the very questions being tested, and make
    differences look larger than they are. ``difference`` is accuracy_b - accuracy_a; ``only_a`` / ``only_b`` count
    the questions only that side answered right (both right or both wrong says nothing about which is better);
    ``within_noise``: ``p_value`` >= `stats.NOISE_LEVEL`. `TaskDataError` when two models did not answer the same
    held-out questions.
    """
    if not sources:
        raise StoreError("No runs to compare: give a list of store folders or Hub dataset repos.")
    with tempfile.TemporaryDirectory(prefix="codelutra-compare-") as cache:
        runs = [_answers(str(source), open_run(source, Path(cache) / str(i))) for i, source in enumerate(sources)]
    pairs = [(run[0], run[-1]) for run in runs if len(run) == 2]
    pairs += [(a[-1], b[-1]) for a, b in itertools.combinations(runs, 2)]
    return pd.DataFrame([_paired_row(a, b) for a, b in pairs], columns=PAIRED_COLUMNS)


def _run_table(run: str, store: LocalStore) -> pd.DataFrame:
    """`load_runs`' rows of one run."""
    history = [store.read_json(t, "metrics") for t in _evaluated(run, store)]
    by_iteration = {m["iteration"]: m for m in history}
    table = metrics_table(history).reset_index()
    metrics = [by_iteration[t] for t in table["iteration"]]
    table.insert(0, "run", run)
    table.insert(1, "method", [m.get("config", {}).get("method", RunParams.method) for m in metrics])
    table["train_rows"] = pd.array([_train_rows(m) for m in metrics], dtype="Int64")
    evals = [m["eval"] for m in metrics]
    _insert_interval(table, "accuracy", [interval(e, "accuracy") for e in evals])
    _insert_interval(table, "executable_rate", [interval(e, "executable_rate") for e in evals])
    if "unseen_accuracy" in table:
        nan = (float("nan"), float("nan"))
        _insert_interval(table, "unseen_accuracy", [interval(e["unseen"]) if "unseen" in e else nan for e in evals])
    return table


def _insert_interval(table: pd.DataFrame, column: str, bounds: list[tuple[float, float]]) -> None:
    """``<column>_lo`` and ``<column>_hi`` right after ``column``."""
    at = table.columns.get_loc(column) + 1
    table.insert(at, f"{column}_hi", [round(hi, 4) for _, hi in bounds])
    table.insert(at, f"{column}_lo", [round(lo, 4) for lo, _ in bounds])


def _evaluated(run: str, store: LocalStore) -> list[int]:
    """The run's iterations with a ``metrics.json``, ascending; `StoreError` when there is none."""
    evaluated = store.iterations_with("metrics")
    if not evaluated:
        raise StoreError(
            f"Run {run!r} has no evaluated iteration (no iter-<t>/metrics.json in {store.root}"
            f"{' or on the Hub' if isinstance(store, HubStore) else ''}). Give a run's store_dir or hub_dataset_repo; "
            "for a private repo set HF_TOKEN."
        )
    return evaluated


class _Answers(NamedTuple):
    """One model's held-out outcomes: question id -> answered right."""

    run: str
    iteration: int
    outcomes: dict[str, bool]


def _answers(run: str, store: LocalStore) -> list[_Answers]:
    """The outcomes of the run's base model (iteration 0, when evaluated) and of its latest evaluated iteration."""
    evaluated = _evaluated(run, store)
    latest = evaluated[-1]
    models = [0, latest] if evaluated[0] == 0 < latest else [latest]
    return [_Answers(run, t, _outcomes(run, store, t)) for t in models]


def _outcomes(run: str, store: LocalStore, t: int) -> dict[str, bool]:
    """Question id -> answered right, from iteration t's ``eval.jsonl``."""
    try:
        path = store.fetch(t, "evaluation")
    except StoreError as exc:
        raise StoreError(
            f"Run {run!r}, iteration {t} has a metrics.json but no eval.jsonl (one judged answer per held-out "
            "question), which the paired test needs. Evaluate it again to write it: notebooks/05_evaluate.ipynb "
            f"with -p iteration {t} -p force True and the run's parameters."
        ) from exc
    return outcomes(read_jsonl(path))


def _paired_row(a: _Answers, b: _Answers) -> dict[str, Any]:
    """`paired_comparisons`' row of model ``a`` against model ``b``."""
    names = (f"M({a.iteration}) of run {a.run!r}", f"M({b.iteration}) of run {b.run!r}")
    test = mcnemar(a.outcomes, b.outcomes, names)
    return {
        "run_a": a.run,
        "iteration_a": a.iteration,
        "run_b": b.run,
        "iteration_b": b.iteration,
        "n": test.n,
        "accuracy_a": round(test.accuracy_a, 4),
        "accuracy_b": round(test.accuracy_b, 4),
        "difference": round(test.difference, 4),
        "only_a": test.only_a,
        "only_b": test.only_b,
        "p_value": test.p_value,
        "within_noise": test.within_noise,
    }


def _train_rows(metrics: dict) -> int | None:
    """Rows iteration t trained on (``pairing.rows``; ``pairing.pairs`` in older runs); None for the base model."""
    pairing = metrics.get("pairing")
    return None if pairing is None else pairing.get("rows", pairing.get("pairs"))
