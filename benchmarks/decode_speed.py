"""Sequences per second of `codelutra_nb.sampling.decode` against ``model.generate`` on the embedded model.

    python benchmarks/decode_speed.py [--questions 32] [--batch 16]

Answers held-out demo questions as the evaluate stage does (T 0.2, 512 new tokens, the SQL stop rule) and
training questions as the sample stage does (T 1.0, 128 new tokens), with the same batches both ways. ``generate``
computes every row until the batch's last one ends; `decode` drops each row from the batch as it ends.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from codelutra_nb.config import load_config
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.models import load_policy, load_tokenizer
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, _stop_ids, decode


class _Stop(StoppingCriteria):
    """generate's form of the stop rule: a row is done once its text holds a complete program."""

    def __init__(self, tokenizer, prompt_len: int, complete):
        self.tokenizer, self.prompt_len, self.complete = tokenizer, prompt_len, complete

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len :], skip_special_tokens=True)
        return torch.tensor([self.complete(t) for t in texts])


def with_generate(model, tok, batch, settings: GenerationSettings) -> list[str]:
    prompt_len = batch["input_ids"].shape[1]
    out = model.generate(
        **batch,
        do_sample=True,
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=0,
        max_new_tokens=settings.max_new_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=_stop_ids(tok),
        stopping_criteria=StoppingCriteriaList([_Stop(tok, prompt_len, settings.stop)]),
    )
    return tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True)


def rate(how, model, tok, prompts: list[str], settings: GenerationSettings, batch_size: int) -> float:
    torch.manual_seed(0)
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        batch = tok(prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            how(model, tok, batch, settings)
    return len(prompts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--splits", nargs="+", choices=["eval", "train"], default=["eval", "train"])
    args = parser.parse_args()
    cfg = load_config("demo")
    model, tok = load_policy(cfg.model, None), load_tokenizer(cfg.model)
    tok.padding_side = "left"
    stop = get_kind("sql").code_complete
    for split, settings, n in (
        ("eval", GenerationSettings(1, 0.2, 1.0, 512, stop=stop), 1),
        ("train", GenerationSettings(1, 1.0, 1.0, 128, stop=stop), 4),
    ):
        if split not in args.splits:
            continue
        tasks = list(load_tasks(cfg.tasks, split).values())[: args.questions]
        rendered = [
            tok.apply_chat_template(messages_for(t, cfg.tasks), tokenize=False, add_generation_prompt=True)
            for t in tasks
        ]
        prompts = sorted((p for p in rendered for _ in range(n)), key=len)  # as the sampler orders its jobs
        old = rate(with_generate, model, tok, prompts, settings, args.batch)
        new = rate(decode, model, tok, prompts, settings, args.batch)
        print(f"{split}: generate {old:.2f} seq/s, decode {new:.2f} seq/s, x{new / old:.2f}", flush=True)


if __name__ == "__main__":
    main()
