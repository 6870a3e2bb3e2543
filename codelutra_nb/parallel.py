"""Several processes, one per GPU, sharing a stage: how they are started and how they share the work.

With ``num_processes`` > 1 the sample, train and evaluate stages run under ``accelerate launch --num_processes N``,
started for the user by `launch` (``python -m codelutra_nb run STAGE`` in each process, with the run's values). In
such a group, rank 0 alone writes the store and pushes to the Hub; the others read the folder rank 0 fills and wait
for it (`on_main`). Training is DDP by default, FSDP or DeepSpeed ZeRO-3 through the accelerate config files shipped
in `ACCELERATE_CONFIGS` (``distributed``); sampling and evaluation hold a whole model per process and take turns over
the batches of each generate call (`codelutra_nb.sampling.TransformersSampler`), so their artifacts are those of one
process. On a machine without a GPU the processes talk over gloo (how tests run them).
"""

from __future__ import annotations

import codecs
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import errors
from .errors import CodelutraError
from .progress import say, terminal

if TYPE_CHECKING:
    from .config import LoopConfig

ACCELERATE_CONFIGS = Path(__file__).resolve().parent / "accelerate"
"""accelerate's config file per training engine (``distributed``): ``ddp.yaml``, ``fsdp.yaml``, ``deepspeed.yaml``."""
LAUNCHED_STAGES = ("sample", "train", "evaluate")
"""The stages that run in ``num_processes`` processes; verify and pair run in one."""
_T = TypeVar("_T")


class LaunchError(CodelutraError, RuntimeError):
    """The processes of a launched stage failed without a toolkit error of their own (a crash, out of memory)."""


@dataclass(frozen=True)
class Group:
    """This process in its group: ``rank`` of ``size`` processes, ``local_rank`` on this machine (its GPU)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def group() -> Group:
    """This process's place, from the environment ``accelerate launch`` (torchrun) sets; one process alone else."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return Group()
    return Group(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    """Whether this process writes the store: the only one, or rank 0 of a launched group."""
    return group().main


def sharded() -> bool:
    """Whether FSDP or DeepSpeed trains here (they place the model themselves: no ``device_map``)."""
    return any(os.environ.get(f"ACCELERATE_USE_{name}", "").lower() == "true" for name in ("FSDP", "DEEPSPEED"))


def device_map() -> dict[str, int] | None:
    """Where this process loads a model on a GPU machine: the GPU of its local rank (GPU 0 for one process), whole;
    None under FSDP / DeepSpeed."""
    return None if sharded() else {"": group().local_rank}


def on_main(work: Callable[[], _T]) -> _T:
    """``work()`` on rank 0 alone (store reads and writes, Hub pushes), its result handed to every process; the
    others wait for it. One process: just ``work()``. An error on rank 0 ends the group (accelerate's launcher stops
    the others)."""
    if group().size == 1:
        return work()
    import torch.distributed as dist

    _connect()
    box = [work() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[return-value]


def gather(value: _T) -> list[_T]:
    """Every process's ``value``, in rank order, on every process (``[value]`` for one process)."""
    if group().size == 1:
        return [value]
    import torch.distributed as dist

    _connect()
    found: list[Any] = [None] * group().size
    dist.all_gather_object(found, value)
    return found


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (a download, a cache to fill), then the others."""
    if group().size == 1:
        yield
        return
    with _connect().main_process_first():
        yield


def finish() -> None:
    """End this process's part in its group (before it exits), so the group ends cleanly."""
    import torch.distributed as dist

    if group().size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def _connect():
    """accelerate's `PartialState`: joins the group (gloo without a GPU, NCCL with; each process on its GPU)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def launches(cfg: LoopConfig, stage: str) -> bool:
    """Whether ``stage`` (a `LAUNCHED_STAGES` one) is to be started in ``num_processes`` processes from here: more
    than one asked for, and this process is not in a group already."""
    return cfg.parallel.num_processes > 1 and group().size == 1 and stage in LAUNCHED_STAGES


def unused_gpus_line(num_processes: int) -> str | None:
    """What to say when this process works alone while its machine shows several GPUs: how to use them all."""
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < 2 or group().size > 1 or num_processes > 1:
        return None
    return (
        f"This machine shows {visible} GPUs and this stage uses one (cuda:0). num_processes: {visible} runs the "
        f"sample, train and evaluate stages on all of them (accelerate launch, started for you)."
    )


def launch_command(cfg: LoopConfig, stages: list[str], params: Path, summary: Path) -> list[str]:
    """``accelerate launch`` of ``python -m codelutra_nb run STAGES`` with the values in the YAML file ``params``;
    rank 0 writes the stages' summaries (or the error) to ``summary``. Training takes the config file of
    ``distributed``; sampling and evaluation alone, DDP's (a whole model per process)."""
    engine = _engine(cfg, stages)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ACCELERATE_CONFIGS / f"{engine}.yaml"),
        "--num_processes",
        str(cfg.parallel.num_processes),
        "--main_process_port",
        str(_free_port()),
        "-m",
        "codelutra_nb",
        "run",
        *stages,
        "--preset",
        str(params),
        "--store-checked",
        "--summary-out",
        str(summary),
    ]


def launch(cfg: LoopConfig, stage: str) -> dict:
    """Run ``stage`` of ``cfg`` in ``num_processes`` processes (`launch_command`), showing their output here as it
    comes; returns the stage's summary. A toolkit error in rank 0 is raised here as the same error; any other failure
    is a `LaunchError` with the last lines."""
    import yaml

    n, engine = cfg.parallel.num_processes, _engine(cfg, [stage])
    with tempfile.TemporaryDirectory(prefix="codelutra-launch-") as folder:
        params, summary = Path(folder) / "params.yaml", Path(folder) / "summary.json"
        params.write_text(yaml.safe_dump(cfg.to_dict()))
        command = launch_command(cfg, [stage], params, summary)
        say(f"{stage}: {n} processes ({engine}), `accelerate launch --num_processes {n} -m codelutra_nb run {stage}`")
        status, tail = _run_showing(command)
        result = json.loads(summary.read_text()) if summary.exists() else {}
    if "error" in result:
        kind = getattr(errors, result["error"]["type"], CodelutraError)
        raise kind(result["error"]["message"])
    if status != 0 or "summaries" not in result:
        raise LaunchError(
            f"The {stage} stage's {n} processes failed (accelerate launch exit status {status}) before rank 0 "
            f"finished; their last output:\n{tail}\nA process out of memory: lower the batch sizes or max_length, or "
            "try distributed: fsdp; to see the stage in one process, set num_processes: 1."
        )
    return result["summaries"][0]


def _engine(cfg: LoopConfig, stages: list[str]) -> str:
    return cfg.parallel.distributed if "train" in stages else "ddp"


def _run_showing(command: list[str]) -> tuple[int, str]:
    """Run ``command``, its output copied here (a notebook's output in a kernel) and to `terminal` as it comes;
    returns its exit status and its last 3000 characters."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert process.stdout is not None
    decoder, tail, stream = codecs.getincrementaldecoder("utf-8")(errors="replace"), "", terminal()
    for chunk in iter(lambda: process.stdout.read1(4096), b""):  # type: ignore[union-attr]
        text = decoder.decode(chunk)
        for out in (sys.stdout, stream):
            if out is not None:
                out.write(text)
                out.flush()
        tail = (tail + text)[-3000:]
    return process.wait(), tail


def _free_port() -> int:
    """A free port for the group's rendezvous (accelerate's default, 29500, may be taken by another run here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
