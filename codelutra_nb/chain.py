"""Chaining the stage notebooks with papermill: what ``notebooks/iterate.ipynb`` runs.

Each stage notebook is executed with the same parameters; the executed copy
is kept in ``<store>/iter-<t>/notebooks/`` as the record of the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import LoopConfig
from .stages import iteration_stages, make_store

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
STAGE_NOTEBOOKS = {
    "baseline": "05_evaluate.ipynb",
    "sample": "01_sample.ipynb",
    "verify": "02_verify.ipynb",
    "pair": "03_pair.ipynb",
    "train": "04_train.ipynb",
    "evaluate": "05_evaluate.ipynb",
}


def run_notebooks(cfg: LoopConfig, preset: str, params: dict[str, Any]) -> list[Path]:
    """Execute the stage notebooks of ``cfg.iteration`` in order; returns the executed copies."""
    import papermill as pm

    store = make_store(cfg)  # checks the store (Hub token, network) before hours of work
    executed = []
    for stage in iteration_stages(cfg, store):
        t = 0 if stage == "baseline" else cfg.iteration
        out_dir = store.iteration_dir(t) / "notebooks"
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / STAGE_NOTEBOOKS[stage]
        pm.execute_notebook(str(NOTEBOOK_DIR / STAGE_NOTEBOOKS[stage]), str(out), cwd=os.getcwd(),
                            parameters={"preset": preset, "iteration": t, "force": cfg.force, "params": params},
                            progress_bar=False)
        store.publish(t, "notebooks")
        executed.append(out)
    return executed
