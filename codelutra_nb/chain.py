"""Chaining the stage notebooks with papermill: what ``notebooks/iterate.ipynb`` runs.

The store is checked once (Hub token, network, repos); each stage notebook then
gets the resolved parameters, so every stage of an iteration runs with exactly
the same values. The executed copies are kept in ``<store>/iter-<t>/notebooks/``
as the record of the run.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import LoopConfig
from .stages import iteration_stages
from .store import open_store

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebooks(cfg: LoopConfig) -> list[Path]:
    """Execute the stage notebooks of ``cfg.run.iteration`` in order; returns the executed copies."""
    import papermill as pm

    store = open_store(cfg)  # checks the store (Hub token, network) once, before hours of work
    resolved = {k: v for k, v in cfg.to_dict().items() if k not in ("iteration", "force")}
    executed = []
    for stage in iteration_stages(cfg, store):
        t = stage.iteration(cfg)
        out = store.path(t, "notebooks") / stage.notebook
        out.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(
            str(NOTEBOOK_DIR / stage.notebook),
            str(out),
            cwd=os.getcwd(),
            progress_bar=False,
            parameters={
                "preset": None,
                "iteration": t,
                "force": cfg.run.force,
                "params": resolved,
                "store_checked": True,
            },
        )
        store.publish(t, "notebooks")
        executed.append(out)
    return executed
