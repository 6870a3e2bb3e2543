"""Pairs per second of one dual-loss DPO epoch on the embedded model, per setting; prints the ratios.

    python benchmarks/train_speed.py [--pairs 16]

Compares float32 against bfloat16 weights and precomputed reference log-probs against a reference forward
at every step, on real preference pairs built from the bundled SQL questions (gold as chosen, a wrong
query as rejected).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from datasets import Dataset

from codelutra_nb.config import load_config
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.methods import get_method
from codelutra_nb.prompts import build_messages
from codelutra_nb.training import train_adapter


def pairs(n: int) -> Dataset:
    tasks = list(load_tasks(load_config().tasks, "train").values())[:n]
    return Dataset.from_list(
        [
            {
                "prompt": build_messages(t),
                "chosen": [{"role": "assistant", "content": get_kind("sql").format_answer(t.reference)}],
                "rejected": [{"role": "assistant", "content": "SELECT * FROM " + t.schema.split()[2] + ";"}],
            }
            for t in tasks
        ]
    )


def rate(settings: dict, data: Dataset) -> float:
    cfg = load_config(**settings)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train_adapter(
            cfg.model,
            cfg.training,
            get_method(cfg.run.method).trainer(cfg),
            data,
            Path(tmp) / "adapter",
            None,
            Path(tmp) / "checkpoints",
            seed=cfg.run.seed,
        )
        return len(data) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    args = parser.parse_args()
    data = pairs(args.pairs)
    variants = {
        "float32, precomputed reference": {"dtype": "float32", "precompute_ref": True},
        "float32, reference each step": {"dtype": "float32", "precompute_ref": False},
        "bfloat16, precomputed reference": {"dtype": "bfloat16", "precompute_ref": True},
    }
    rates = {name: rate(settings, data) for name, settings in variants.items()}
    base = rates["float32, reference each step"]
    for name, r in rates.items():
        print(f"{name:34s} {r:6.2f} pairs/s  x{r / base:.2f} vs float32 with a reference forward each step")


if __name__ == "__main__":
    main()
