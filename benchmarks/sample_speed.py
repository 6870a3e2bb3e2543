"""The sampling engines on one job: the demo's sampling of an iteration (its first 64 training questions, K = 4,
temperature 1.0, 128 new tokens, the SQL kind's stop rule) from M(0), or from base + ``--adapter``.

    python benchmarks/sample_speed.py [--questions 64] [--adapter runs/demo/iter-1/adapter] [--engines ...]

Prints per engine: the start (model load; for vLLM also merging and the engine), the generation's wall time, the
tokens kept (the completions as cut by the stop rules, counted with the model's tokenizer) per second, and each
engine's tokens/s over the transformers sampler's. vLLM needs `make setup-vllm` (or vllm_python).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from codelutra_nb.config import load_config
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.models import load_tokenizer
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, close, make_sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--engines", nargs="+", default=["transformers", "vllm"])
    parser.add_argument("--preset", default="demo")
    args = parser.parse_args()

    cfg = load_config(args.preset)
    s = cfg.sampling
    tasks = list(load_tasks(cfg.tasks, "train", 1).values())[: args.questions]
    conversations = [messages_for(task, cfg.tasks) for task in tasks]
    settings = GenerationSettings(
        s.num_samples, s.temperature, s.top_p, s.max_new_tokens, stop=get_kind(cfg.tasks.task_kind).code_complete
    )
    tokenizer = load_tokenizer(cfg.model)
    rows = []
    for engine in args.engines:
        started = time.perf_counter()
        sampler = make_sampler(engine, cfg.model, args.adapter, batch_size=s.sample_batch_size, desc=engine, cfg=cfg)
        ready = time.perf_counter()
        try:
            outputs = sampler.generate(conversations, settings, seed=0)
        finally:
            close(sampler)
        done = time.perf_counter()
        tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for texts in outputs for text in texts)
        rows.append((engine, ready - started, done - ready, tokens))
    base = next((tokens / wall for engine, _, wall, tokens in rows if engine == "transformers"), None)
    print(f"{len(tasks)} questions x {s.num_samples}, {s.max_new_tokens} new tokens, model {cfg.model.base_model}")
    print("| engine | start s | generation s | tokens kept | tokens/s | vs transformers |")
    print("|---|---|---|---|---|---|")
    for engine, start, wall, tokens in rows:
        ratio = f"{tokens / wall / base:.2f}x" if base else "-"
        print(f"| {engine} | {start:.1f} | {wall:.1f} | {tokens} | {tokens / wall:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
