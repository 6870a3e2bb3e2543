"""What only a GPU machine can confirm of issue 23: dtype by compute capability, the memory plan against measured
peaks, QLoRA training steps/s and sampling tok/s. One JSON line per check.

    python benchmarks/gpu_check.py [--layers 4] [--dry-run]

The model is Qwen2.5-Coder-7B-Instruct's shipped config.json at full width (hidden 3584, intermediate 18944, 28 heads,
4 key/value heads, vocabulary 152,064) cut to ``--layers`` layers, with random weights and the embedded model's
tokenizer: a GPU machine here has no network, and the plan's terms are per layer, so its width is what is checked.
Checks, each against `codelutra_nb.memory_plan.plan` of the same shapes:

- ``dtype``: what ``dtype: auto`` is on this GPU (bfloat16 from compute capability 8.0, else float16), the Trainer's
  precision flags, and whether torch has kernels for it;
- ``memory``: ``torch.cuda.max_memory_allocated`` of sampling (a batch of B prompts of p tokens, N new), training (DPO
  pairs of ``max_length`` tokens, prompt sharing off so the rows are the plan's) and evaluation, 4-bit (QLoRA, fp16
  or bf16) and 16-bit LoRA, against the planned peak; ``ratio`` = measured / planned (the plan should be >= 0.8);
- ``training``: QLoRA steps/s; ``--fp16`` forces float16 with its loss scaler on any GPU (a T4's path on an H100);
- ``sampling``: tokens/s of the transformers sampler's decode at batch B.

``--dry-run`` (any machine, no GPU): the planned numbers only, ``measured`` null. Only a GPU confirms the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codelutra_nb.config import load_config  # noqa: E402
from codelutra_nb.gpu import CARDS, GIB, auto_dtype  # noqa: E402
from codelutra_nb.memory_plan import ModelShape, model_config, plan  # noqa: E402

QWEN = "Qwen/Qwen2.5-Coder-7B-Instruct"


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def check_config(model_dir: str, quantized: bool, dtype: str, args: argparse.Namespace):
    """The run parameters of one memory check: the plan's shapes, which the measurement reproduces."""
    return load_config(
        "colab_t4",
        base_model=model_dir,
        load_in_4bit=quantized,
        dtype=dtype,
        max_length=args.prompt + args.new,
        max_new_tokens=args.new,
        eval_max_new_tokens=args.new,
        sample_batch_size=args.batch,
        eval_batch_size=args.batch,
        train_batch_size=1,
        grad_accum=1,
        gradient_checkpointing=True,
        share_prompt=False,
        sampler="transformers",
    )


def shape_of(layers: int) -> tuple[dict, ModelShape]:
    from codelutra_nb.config import ModelParams

    config, where = model_config(ModelParams(base_model=QWEN))
    config = {**config, "num_hidden_layers": layers, "max_window_layers": layers}
    return config, ModelShape.from_config(config, where)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4, help="Qwen2.5-7B layers kept (full width).")
    parser.add_argument("--prompt", type=int, default=768, help="Prompt tokens per sequence (p).")
    parser.add_argument("--new", type=int, default=256, help="New tokens per sequence (N).")
    parser.add_argument("--batch", type=int, default=32, help="Sequences per generate call (B).")
    parser.add_argument("--steps", type=int, default=8, help="Training steps timed.")
    parser.add_argument("--fp16", action="store_true", help="Force float16 (a T4's path) whatever the GPU.")
    parser.add_argument("--dry-run", action="store_true", help="Print the planned numbers only (no GPU needed).")
    args = parser.parse_args()
    config, shape = shape_of(args.layers)
    import torch

    on_gpu = torch.cuda.is_available() and not args.dry_run
    if not on_gpu and not args.dry_run:
        print("no CUDA device: run this on a GPU machine, or with --dry-run", file=sys.stderr)
        return 2
    capability = torch.cuda.get_device_capability(0) if on_gpu else CARDS["t4"].capability
    dtype = "float16" if args.fp16 else auto_dtype(capability)
    card = CARDS["h100"]  # the card only sets dtype: auto; the check compares peaks, not the card's memory
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = str(Path(tmp) / "model")
        if on_gpu:
            _write_model(config, model_dir)
        else:
            Path(model_dir).mkdir()
            (Path(model_dir) / "config.json").write_text(json.dumps(config))
        _check_dtype(on_gpu, capability, model_dir)
        for quantized in (True, False):
            cfg = check_config(model_dir, quantized, dtype, args)
            planned = {s.stage: s.peak for s in plan(cfg, card, shape).stages}
            measured = _measure(cfg, args) if on_gpu else {}
            for stage, peak in planned.items():
                got = measured.get(stage)
                emit(
                    check="memory",
                    stage=stage,
                    model=f"Qwen2.5-7B width, {args.layers} layers",
                    load_in_4bit=quantized,
                    dtype=dtype,
                    planned_gib=round(peak / GIB, 2),
                    measured_gib=None if got is None else round(got["peak"] / GIB, 2),
                    ratio=None if got is None else round(got["peak"] / peak, 2),
                    **({k: v for k, v in got.items() if k != "peak"} if got else {}),
                )
    return 0


def _write_model(config: dict, out: str) -> None:
    """A random-weight model of ``config`` with the embedded model's tokenizer and chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from codelutra_nb.models import embedded_model_dir

    embedded = embedded_model_dir("~/.cache/codelutra_nb")
    model_config = AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(embedded).save_pretrained(out)
    for extra in Path(embedded).glob("chat_template*"):
        (Path(out) / extra.name).write_text(extra.read_text())


def _check_dtype(on_gpu: bool, capability: tuple[int, int], model_dir: str) -> None:
    import torch

    from codelutra_nb.config import ModelParams, TrainParams
    from codelutra_nb.gpu import check_kernels
    from codelutra_nb.models import torch_dtype
    from codelutra_nb.training import common_trainer_args

    if not on_gpu:
        emit(check="dtype", device=None, capability=None, expected=auto_dtype(capability), auto=None)
        return
    check_kernels()
    chosen = str(torch_dtype(ModelParams())).removeprefix("torch.")
    flags = common_trainer_args(ModelParams(), TrainParams(), Path(model_dir), 8, seed=0)
    emit(
        check="dtype",
        device=torch.cuda.get_device_name(0),
        capability=list(capability),
        expected=auto_dtype(capability),
        auto=chosen,
        bf16=flags["bf16"],
        fp16=flags["fp16"],
        ok=chosen == auto_dtype(capability) and flags[{"bfloat16": "bf16", "float16": "fp16"}[chosen]],
    )


def _measure(cfg, args: argparse.Namespace) -> dict[str, dict]:
    """Peak allocated memory of each stage's work on ``cfg``'s shapes, with its speed."""
    import gc

    import torch
    from datasets import Dataset

    from codelutra_nb.methods.trainers import DPO
    from codelutra_nb.models import load_policy, load_tokenizer
    from codelutra_nb.sampling import GenerationSettings, decode
    from codelutra_nb.training import train_adapter

    out: dict[str, dict] = {}
    tokenizer = load_tokenizer(cfg.model)
    for stage in ("sampling", "evaluation"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        model = load_policy(cfg.model, None)
        ids = torch.randint(100, 40_000, (args.batch, args.prompt), device="cuda")
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        settings = GenerationSettings(1, 1.0, 1.0, args.new)
        started = time.perf_counter()
        texts = decode(model, tokenizer, batch, settings)
        torch.cuda.synchronize()
        wall = time.perf_counter() - started
        new_tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        out[stage] = {"peak": torch.cuda.max_memory_allocated(), "tok_per_s": round(new_tokens / wall, 1)}
        if stage == "sampling":
            emit(
                check="sampling",
                load_in_4bit=cfg.model.load_in_4bit,
                batch=args.batch,
                tok_per_s=out[stage]["tok_per_s"],
            )
        del model
        gc.collect()
    words = " ".join(["select"] * args.prompt)
    rows = [
        {
            "prompt": [{"role": "user", "content": words}],
            "chosen": [{"role": "assistant", "content": " ".join(["a"] * args.new)}],
            "rejected": [{"role": "assistant", "content": " ".join(["b"] * args.new)}],
        }
        for _ in range(args.steps)
    ]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = train_adapter(
            cfg.model, cfg.training, DPO(1.0), Dataset.from_list(rows), Path(tmp) / "adapter", None, Path(tmp) / "ck"
        )
        wall = time.perf_counter() - started
    steps = [h for h in result.log_history if "loss" in h and "grad_norm" in h]
    runtime = next((h["train_runtime"] for h in result.log_history if "train_runtime" in h), wall)
    out["training"] = {"peak": torch.cuda.max_memory_allocated()}
    emit(
        check="training",
        load_in_4bit=cfg.model.load_in_4bit,
        dtype=cfg.model.dtype,
        steps=len(steps),
        steps_per_s=round(len(steps) / runtime, 3),
        last_loss=steps[-1]["loss"] if steps else None,
        finite=all(math.isfinite(h["loss"]) for h in steps),
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
