"""Pairs per second of one dual-loss DPO epoch on the embedded model, per setting; prints the ratios.

    python benchmarks/train_speed.py [--pairs 16] [--variants NAME ...]

Measures each speed lever on its own against TRL's defaults (gradient checkpointing on, every prompt run
once per answer, every position through the LM head on a CPU): gradient checkpointing off, each pair's prompt run
once (`codelutra_nb.prompt_sharing`), only the answers' positions through the LM head (`codelutra_nb.lm_head`), all
three; and float32 against bfloat16 weights and precomputed reference log-probs against a reference forward at
every step. The pairs are real ones built from the bundled SQL questions (gold as chosen, a wrong query as
rejected).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from unittest import mock

from datasets import Dataset

from codelutra_nb.config import load_config
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.prompts import messages_for
from codelutra_nb.training import train_adapter


def pairs(n: int) -> Dataset:
    params = load_config().tasks
    tasks = list(load_tasks(params, "train").values())[:n]
    return Dataset.from_list(
        [
            {
                "prompt": messages_for(t, params),
                "chosen": [{"role": "assistant", "content": get_kind("sql").format_answer(t.reference)}],
                "rejected": [{"role": "assistant", "content": "SELECT * FROM " + t.schema.split()[2] + ";"}],
            }
            for t in tasks
        ]
    )


def rate(settings: dict, labelled_only: bool, data: Dataset) -> float:
    cfg = load_config(**settings)
    every_position = mock.patch("codelutra_nb.training.labelled_positions_only", contextlib.nullcontext)
    with tempfile.TemporaryDirectory() as tmp, contextlib.nullcontext() if labelled_only else every_position:
        started = time.perf_counter()
        train_adapter(
            cfg.model,
            cfg.training,
            cfg.method.make_trainer(),
            data,
            Path(tmp) / "adapter",
            None,
            Path(tmp) / "checkpoints",
            seed=cfg.run.seed,
        )
        return len(data) / (time.perf_counter() - started)


BASELINE = "TRL defaults (checkpointing on, prompt per answer, LM head on every position)"
TRL = {"gradient_checkpointing": True, "share_prompt": False}
VARIANTS = {  # name: (parameters, only the answers' positions through the LM head)
    BASELINE: (TRL, False),
    "gradient checkpointing off": (TRL | {"gradient_checkpointing": False}, False),
    "prompt once per pair": (TRL | {"share_prompt": True}, False),
    "LM head on the answers only": (TRL, True),
    "all three (the defaults now)": ({}, True),
    "float32 weights": ({"dtype": "float32"}, True),
    "reference forward each step": ({"precompute_ref": False}, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    data = pairs(args.pairs)
    rates = {name: rate(*VARIANTS[name], data) for name in dict.fromkeys([BASELINE, *args.variants])}
    print(f"pairs/s on {args.pairs} pairs, and the ratio to the first row", flush=True)
    for name, r in rates.items():
        print(f"{name:78s} {r:6.3f} pairs/s  x{r / rates[BASELINE]:.2f}", flush=True)


if __name__ == "__main__":
    main()
