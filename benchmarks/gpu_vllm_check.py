"""What only a GPU machine can confirm of `sampler: vllm` (issue 21): the CUDA build starts, beats the transformers
sampler, serves M(t) merged and as a LoRA request (which is faster on a GPU, where vLLM's LoRA kernels run), and gives
all its GPU memory back when the stage closes it (before training needs it).

    python benchmarks/gpu_vllm_check.py [--adapter runs/demo/iter-1/adapter] [--questions 64]

Needs a CUDA machine with vLLM installed (`make setup-vllm` installs `vllm` there; the offline GPU kit of these
build machines cannot carry a vLLM wheel). Prints the engines' table (as benchmarks/sample_speed.py) and the free
GPU memory before the engine starts, while it runs, and after `close`; exits 1 if memory is not returned.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from codelutra_nb.config import load_config
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, close, make_sampler

SLACK_BYTES = 256 * 2**20
"""Free memory after `close` may differ from before by this much (allocator caches, CUDA context)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--questions", type=int, default=64)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: run this on a GPU machine", file=sys.stderr)
        return 2
    cfg = load_config("demo", sampler="vllm")
    s = cfg.sampling
    tasks = list(load_tasks(cfg.tasks, "train", 1).values())[: args.questions]
    conversations = [messages_for(task, cfg.tasks) for task in tasks]
    stop = get_kind(cfg.tasks.task_kind).code_complete
    settings = GenerationSettings(s.num_samples, s.temperature, s.top_p, s.max_new_tokens, stop=stop)
    print(f"device {torch.cuda.get_device_name(0)}; {len(tasks)} questions x {s.num_samples}")
    rows = []
    runs = [("transformers", "merge"), ("vllm", "merge")] + ([("vllm", "lora")] if args.adapter else [])
    for backend, served in runs:
        free_before = torch.cuda.mem_get_info()[0]
        started = time.perf_counter()
        engine = backend if backend == "transformers" else f"vllm ({served})"
        sampler = make_sampler(
            backend,
            cfg.model,
            args.adapter,
            batch_size=s.sample_batch_size,
            desc=engine,
            cfg=cfg.replace(vllm_adapter=served),
        )
        ready = time.perf_counter()
        outputs = sampler.generate(conversations, settings, seed=0)
        done = time.perf_counter()
        free_running = torch.cuda.mem_get_info()[0]
        close(sampler)
        del sampler
        torch.cuda.empty_cache()
        free_after = torch.cuda.mem_get_info()[0]
        texts = sum(len(t) for texts in outputs for t in texts)
        rows.append((engine, ready - started, done - ready, texts, free_before, free_running, free_after))
    print("| engine | start s | generation s | characters kept | free GiB before / running / after |")
    print("|---|---|---|---|---|")
    for engine, start, wall, chars, before, running, after in rows:
        gib = " / ".join(f"{b / 2**30:.1f}" for b in (before, running, after))
        print(f"| {engine} | {start:.1f} | {wall:.1f} | {chars} | {gib} |")
    returned = True
    for engine, _, _, _, before, _, after in rows[1:]:
        back = before - after <= SLACK_BYTES
        returned &= back
        print(
            f"{engine}: GPU memory returned after close: {'yes' if back else 'NO'} ({(before - after) / 2**20:.0f} MiB)"
        )
    return 0 if returned else 1


if __name__ == "__main__":
    sys.exit(main())
