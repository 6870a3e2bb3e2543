"""One iteration of a Spider-size run as the store sees it, without a model (tests/test_hub_scale.py and
benchmarks/hub_traffic.py).

7,000 training questions in shards of 32 (219 shards of samples, then 219 of verdicts), then every artifact the stages
write, in the order they write them, each stage with its own store as each stage notebook opens one, and the chain's
store around them (its preflight first, the executed notebooks after each stage, its flush last).
"""

from __future__ import annotations

import json
from pathlib import Path

from codelutra_nb.config import LoopConfig
from codelutra_nb.store import LocalStore, open_store

QUESTIONS = 7000
SHARD_SIZE = 32
STAGES = ("sample", "verify", "pair", "train", "evaluate")


def run_iteration(cfg: LoopConfig, t: int, questions: int = QUESTIONS) -> None:
    """Iteration t's store calls for ``questions`` training questions (shards of ``cfg.run.shard_size``)."""
    cfg = cfg.replace(iteration=t)
    chain = open_store(cfg)  # the chain checks the store once
    for stage in STAGES:
        store = open_store(cfg, check=False)  # each stage notebook opens its own
        _stage(store, t, stage, questions, cfg.run.shard_size)
        store.record_time(t, stage, 1.0)
        notebooks = chain.path(t, "notebooks")
        notebooks.mkdir(parents=True, exist_ok=True)
        (notebooks / f"{stage}.ipynb").write_text(json.dumps({"cells": [], "stage": stage}))
        chain.publish(t, "notebooks")
    chain.flush()


def _stage(store: LocalStore, t: int, stage: str, questions: int, shard_size: int) -> None:
    if stage in ("sample", "verify"):
        artifact = "samples" if stage == "sample" else "verdicts"
        shards = -(-questions // shard_size)
        for index in range(shards):
            with store.writing_shard(t, artifact, index) as path:
                path.write_text(json.dumps({"stage": stage, "iteration": t, "shard": index}) + "\n")
        with store.writing(t, artifact) as path:
            path.write_text("".join(r for i in range(shards) for r in store.shard_path(t, artifact, i).read_text()))
    elif stage == "pair":
        from datasets import Dataset

        with store.writing(t, "preferences") as path:
            rows = [{"prompt": f"q{i}", "chosen": "SELECT 1", "rejected": "SELECT", "iteration": t} for i in range(64)]
            Dataset.from_list(rows).save_to_disk(str(path))
            (path / "pairing_stats.json").write_text(json.dumps({"pairs": len(rows)}))
    elif stage == "train":
        import numpy as np
        from safetensors.numpy import save_file

        with store.writing(t, "adapter") as path:
            path.mkdir()
            (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "iteration": t}))
            save_file(
                {"lora_A": np.full((8, 8), float(t), dtype=np.float32)}, str(Path(path, "adapter_model.safetensors"))
            )
    else:
        if t == 1 and not store.has(0, "metrics"):
            store.write_json(0, "metrics", _metrics(0))
        with store.writing(t, "evaluation") as path:
            path.write_text(json.dumps({"task_id": "e0", "category": "correct"}) + "\n")
        store.write_json(t, "metrics", _metrics(t))
        store.write_best({"iteration": t, "accuracy": _metrics(t)["eval"]["accuracy"]})


def _metrics(t: int) -> dict:
    return {"iteration": t, "eval": {"accuracy": 0.5 + t / 100, "executable_rate": 0.9, "n": 1034}}
