"""Several runs side by side: accuracy, executable rate, outcomes and training rows per iteration.

A run is a local store folder (its ``store_dir``) or a Hub dataset repo (its
``hub_dataset_repo``); every evaluated iteration's ``metrics.json`` gives one
row. ``notebooks/compare.ipynb`` is the notebook over these functions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .config import RunParams
from .errors import StoreError
from .evaluation import metrics_table
from .hub import HubStore
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
    where one did not), ``n``, the count of each outcome category, and ``train_rows`` (rows the iteration trained
    on; NA for iteration 0).
    """
    if not sources:
        raise StoreError("No runs to compare: give a list of store folders or Hub dataset repos.")
    with tempfile.TemporaryDirectory(prefix="codelutra-compare-") as cache:
        tables = [_run_table(str(source), open_run(source, Path(cache) / str(i))) for i, source in enumerate(sources)]
    return pd.concat(tables, ignore_index=True)


def plot_runs(runs: pd.DataFrame):
    """Accuracy and executable rate per iteration of `load_runs`' table, one line per run and method."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for (run, method), rows in runs.groupby(["run", "method"], sort=False):
        for ax, column in zip(axes, ("accuracy", "executable_rate")):
            ax.plot(rows["iteration"], rows[column], marker="o", label=f"{run} ({method})")
    for ax, title in zip(axes, ("Held-out accuracy", "Executable rate")):
        ax.set(title=title, xlabel="iteration (0 = base model)", ylim=(0, 1.02), xticks=sorted(set(runs["iteration"])))
    axes[0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def _run_table(run: str, store: LocalStore) -> pd.DataFrame:
    """`load_runs`' rows of one run."""
    history = [store.read_json(t, "metrics") for t in store.iterations_with("metrics")]
    if not history:
        raise StoreError(
            f"Run {run!r} has no evaluated iteration (no iter-<t>/metrics.json in {store.root}"
            f"{' or on the Hub' if isinstance(store, HubStore) else ''}). Give a run's store_dir or hub_dataset_repo; "
            "for a private repo set HF_TOKEN."
        )
    by_iteration = {m["iteration"]: m for m in history}
    table = metrics_table(history).reset_index()
    metrics = [by_iteration[t] for t in table["iteration"]]
    table.insert(0, "run", run)
    table.insert(1, "method", [m.get("config", {}).get("method", RunParams.method) for m in metrics])
    table["train_rows"] = pd.array([_train_rows(m) for m in metrics], dtype="Int64")
    return table


def _train_rows(metrics: dict) -> int | None:
    """Rows iteration t trained on (``pairing.rows``; ``pairing.pairs`` in older runs); None for the base model."""
    pairing = metrics.get("pairing")
    return None if pairing is None else pairing.get("rows", pairing.get("pairs"))
