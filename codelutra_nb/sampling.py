"""Stage 1 engine: K candidate programs per question from M(t-1).

`Sampler` is the interface and `SAMPLERS` the registry the ``sampler``
parameter names. `TransformersSampler` batches sequences of many questions into
each ``generate`` call (one question per call ran at 29 tok/s with the embedded
model here, sixteen at 126 tok/s). `VLLMSampler` is the GPU backend; vLLM is
imported only when it is chosen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from .config import ModelParams
from .errors import ConfigError
from .progress import progress_bar

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode: ``n`` samples per prompt; ``greedy`` ignores temperature and top_p.

    ``stop`` (a task kind's ``code_complete``) ends a sequence as soon as its program is complete:
    what follows could not change the extracted program, so results are the same.
    """

    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    greedy: bool = False
    stop: Callable[[str], bool] | None = None


class Sampler(Protocol):
    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str) -> Sampler:
        """The sampler serving M = base + ``adapter``."""
        ...

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        """``settings.n`` completions per conversation, in order; deterministic for a given seed."""
        ...


class TransformersSampler:
    """Generation with ``model.generate``, sequences of several questions per batch, sorted by prompt length."""

    def __init__(self, model, tokenizer, batch_size: int = 16, progress: bool = True, desc: str = "sampling"):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.progress, self.desc = batch_size, progress, desc

    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str) -> TransformersSampler:
        from .models import load_policy, load_tokenizer

        return cls(load_policy(model, adapter), load_tokenizer(model), batch_size=batch_size, desc=desc)

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        tok = self.tokenizer
        prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        jobs = [(i, j) for i in range(len(prompts)) for j in range(settings.n)]
        order = sorted(range(len(jobs)), key=lambda k: len(prompts[jobs[k][0]]))
        results: list[list[str]] = [[""] * settings.n for _ in prompts]
        sample_args = (
            {} if settings.greedy else {"temperature": settings.temperature, "top_p": settings.top_p, "top_k": 0}
        )
        torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        bar = progress_bar(total=len(jobs), desc=self.desc, unit="seq", disable=not self.progress, mininterval=2.0)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            enc = tok(
                [prompts[jobs[k][0]] for k in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            prompt_len = enc["input_ids"].shape[1]
            stopping = [_CodeComplete(tok, prompt_len, settings.stop)] if settings.stop else []
            with torch.inference_mode():
                out = self.model.generate(
                    **enc,
                    do_sample=not settings.greedy,
                    max_new_tokens=settings.max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=_stop_ids(tok),
                    stopping_criteria=StoppingCriteriaList(stopping),
                    **sample_args,
                )
            texts = tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
            for k, text in zip(batch, texts):
                i, j = jobs[k]
                results[i][j] = text
            bar.update(len(batch))
        bar.close()
        return results


class VLLMSampler:
    """Generation with vLLM on a GPU (``pip install vllm``); the adapter is served as a LoRA request."""

    def __init__(self, model_path: str, adapter: Path | None):
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise ImportError(
                "sampler='vllm' needs vLLM on a CUDA machine: `pip install vllm`, or set sampler: transformers."
            ) from exc
        rank = json.loads((adapter / "adapter_config.json").read_text())["r"] if adapter is not None else 8
        self.llm = LLM(model=model_path, enable_lora=adapter is not None, max_lora_rank=max(rank, 8))
        self.lora = LoRARequest("policy", 1, str(adapter)) if adapter is not None else None

    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str) -> VLLMSampler:
        from .models import resolve_base_model

        return cls(resolve_base_model(model), adapter)

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=settings.n,
            seed=seed,
            max_tokens=settings.max_new_tokens,
            temperature=0.0 if settings.greedy else settings.temperature,
            top_p=settings.top_p,
        )
        outputs = self.llm.chat(list(conversations), params, lora_request=self.lora)
        return [[c.text for c in o.outputs] for o in outputs]


SAMPLERS: dict[str, type[Sampler]] = {
    "transformers": TransformersSampler,
    "vllm": VLLMSampler,
}
"""Backend name (the ``sampler`` parameter) -> its class."""


def make_sampler(
    backend: str, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str = "sampling"
) -> Sampler:
    """The sampler ``backend`` names, serving M = base + ``adapter``."""
    if backend not in SAMPLERS:
        raise ConfigError(f"Unknown sampler {backend!r}; known samplers: {sorted(SAMPLERS)}.")
    return SAMPLERS[backend].create(model, adapter, batch_size=batch_size, desc=desc)


class _CodeComplete(StoppingCriteria):
    """Per-row stop once the generated text holds a complete program (``complete(text)`` is true)."""

    def __init__(self, tokenizer, prompt_len: int, complete: Callable[[str], bool]):
        self.tokenizer, self.prompt_len, self.complete = tokenizer, prompt_len, complete
        self.done: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        if self.done is None:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        rows = (~self.done).nonzero().flatten().tolist()
        texts = self.tokenizer.batch_decode(input_ids[rows, self.prompt_len :], skip_special_tokens=True)
        for row, text in zip(rows, texts):
            self.done[row] = self.complete(text)
        return self.done.clone()


def _stop_ids(tokenizer) -> list[int]:
    """End-of-turn ids: the tokenizer's eos and, for ChatML models, ``<|im_end|>``."""
    ids = {tokenizer.eos_token_id}
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(i for i in ids if i is not None)
