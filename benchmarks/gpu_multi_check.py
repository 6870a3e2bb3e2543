"""What only a machine with two or more GPUs can confirm of `num_processes` (issue 23, item 4), one JSON line per check.

    python benchmarks/gpu_multi_check.py [--questions 16] [--only ddp_train --only fsdp_train ...] [--out DIR]

The CPU tests (tests/test_parallel.py) run the same stages in two processes over gloo on a tiny random model; here
the embedded SmolLM2-135M-Instruct runs on the real cards, on the bundled demo questions:

- ``nccl``: two processes join over NCCL, each on its own GPU, and all-reduce a tensor.
- ``sampling_split``: the sample stage in 2 processes writes the same ``samples.jsonl`` as 1 process; wall times.
- ``ddp_train``: the train stage with ``num_processes: 2`` (DDP) against 1 process at the same global batch: the
  loss per step, wall times, one adapter.
- ``fsdp_train`` / ``deepspeed_train``: the same with ``distributed: fsdp`` / ``deepspeed`` (the shipped accelerate
  configs; DeepSpeed only where it is installed).
- ``one_process_two_gpus``: training in one process on a machine with two GPUs, LoRA and 4-bit: no
  ``DataParallel`` (the stage says how to use both), and nothing allocated on the second GPU.

Each line: ``{"check": ..., "ok": true | false | null, ...numbers}``; ``ok: null`` with ``skipped`` saying why (one
GPU, no DeepSpeed). Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHECKS: dict[str, Callable[[argparse.Namespace, Path], dict]] = {}
LOSS_TOLERANCE = 0.02
"""Relative difference allowed between the per-step losses of one and two processes (DDP averages the processes'
per-row-mean losses; bf16 rounding on a GPU)."""


def check(function: Callable[[argparse.Namespace, Path], dict]) -> Callable[[argparse.Namespace, Path], dict]:
    CHECKS[function.__name__] = function
    return function


def _gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _config(args: argparse.Namespace, store: Path, **values):
    from codelutra_nb.config import load_config

    small = dict(train_limit=args.questions, eval_limit=args.questions, max_new_tokens=64, eval_max_new_tokens=64)
    return load_config("demo", store_dir=str(store), sampler="transformers", **small, **values)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return round(time.perf_counter() - started, 1)


@check
def nccl(args: argparse.Namespace, root: Path) -> dict:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    done = subprocess.run([*command, __file__, "--nccl-worker"], capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    ok = done.returncode == 0 and sorted(line["device"] for line in lines) == ["cuda:0", "cuda:1"]
    return {"ok": ok and all(line["sum"] == 3.0 and line["backend"] == "nccl" for line in lines), "workers": lines}


def _nccl_worker() -> None:
    import torch
    import torch.distributed as dist
    from accelerate import PartialState

    state = PartialState()
    value = torch.tensor([float(state.process_index + 1)], device=state.device)
    dist.all_reduce(value)
    print(json.dumps({"device": str(value.device), "sum": value.item(), "backend": dist.get_backend()}), flush=True)
    dist.destroy_process_group()


@check
def sampling_split(args: argparse.Namespace, root: Path) -> dict:
    from codelutra_nb import stages
    from codelutra_nb.store import open_store

    seconds, files = {}, {}
    for n in (1, 2):
        cfg = _config(args, root / f"sample-{n}", num_processes=n)
        seconds[n] = _timed(lambda cfg=cfg: stages.run_stages(cfg, ["sample"]))
        files[n] = open_store(cfg, check=False).path(1, "samples").read_bytes()
    return {"ok": files[1] == files[2], "seconds_1": seconds[1], "seconds_2": seconds[2], "bytes": len(files[1])}


def _train(args: argparse.Namespace, root: Path, distributed: str) -> dict:
    """Iteration 1's sample, verify and pair stages once, then its train stage in 1 process (batch 8) and in 2
    (batch 4 each) on copies of that store."""
    from codelutra_nb import stages
    from codelutra_nb.layout import TRAINING_LOG

    base = root / "prepared"
    if not (base / "iter-1" / "preferences").exists():
        stages.run_stages(_config(args, base), ["sample", "verify", "pair"])
    losses, seconds = {}, {}
    for n, batch in ((1, 8), (2, 4)):
        store = root / f"train-{distributed}-{n}"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(base, store)
        cfg = _config(args, store, num_processes=n, distributed=distributed, train_batch_size=batch)
        seconds[n] = _timed(lambda cfg=cfg: stages.run_stages(cfg, ["train"]))
        log = json.loads((store / "iter-1" / "adapter" / TRAINING_LOG).read_text())
        losses[n] = [h["loss"] for h in log if "loss" in h and "grad_norm" in h]
    close = len(losses[1]) == len(losses[2]) and all(
        abs(a - b) <= LOSS_TOLERANCE * abs(a) for a, b in zip(losses[1], losses[2])
    )
    return {"ok": close, "loss_1": losses[1], "loss_2": losses[2], "seconds_1": seconds[1], "seconds_2": seconds[2]}


@check
def ddp_train(args: argparse.Namespace, root: Path) -> dict:
    return _train(args, root, "ddp")


@check
def fsdp_train(args: argparse.Namespace, root: Path) -> dict:
    return _train(args, root, "fsdp")


@check
def deepspeed_train(args: argparse.Namespace, root: Path) -> dict:
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        return {"ok": None, "skipped": "deepspeed is not installed (pip install deepspeed)"}
    return _train(args, root, "deepspeed")


@check
def one_process_two_gpus(args: argparse.Namespace, root: Path) -> dict:
    import contextlib
    import io

    import torch

    from codelutra_nb import stages

    base = root / "prepared"
    if not (base / "iter-1" / "preferences").exists():
        stages.run_stages(_config(args, base), ["sample", "verify", "pair"])
    found = {}
    for name, values in (("lora", {}), ("qlora", {"load_in_4bit": True})):
        store = root / f"one-process-{name}"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(base, store)
        torch.cuda.reset_peak_memory_stats(1)
        said = io.StringIO()
        with contextlib.redirect_stdout(said):
            stages.run_stages(_config(args, store, **values), ["train"])
        found[name] = {
            "said_num_processes": "num_processes: 2 trains on all of them" in said.getvalue(),
            "gpu1_peak_bytes": torch.cuda.max_memory_allocated(1),
        }
    ok = all(f["said_num_processes"] and f["gpu1_peak_bytes"] == 0 for f in found.values())
    return {"ok": ok, **found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16, help="Training and held-out questions (default 16).")
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), help="Run only these checks.")
    parser.add_argument("--out", type=Path, help="Folder for the stores (default: a temporary one).")
    parser.add_argument("--nccl-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nccl_worker:
        _nccl_worker()
        return 0
    gpus = _gpus()
    root = args.out or Path(tempfile.mkdtemp(prefix="gpu-multi-check-"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    failed = False
    for name in args.only or list(CHECKS):
        if gpus < 2:
            line = {"check": name, "ok": None, "skipped": f"needs 2 GPUs, this machine has {gpus}"}
        else:
            try:
                line = {"check": name, **CHECKS[name](args, root)}
            except Exception as err:  # noqa: BLE001 - a check that crashes is a failed check; the others still run
                line = {"check": name, "ok": False, "error": f"{type(err).__name__}: {err}"[:2000]}
        failed |= line["ok"] is False
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
