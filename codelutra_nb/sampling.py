"""Stage 1 engine: K candidate programs per question from M(t-1).

`Sampler` is the interface and `SAMPLERS` the registry the ``sampler``
parameter names. `TransformersSampler` batches sequences of many questions
(one question per call ran at 29 tok/s with the embedded model here, sixteen at
126 tok/s) and drops each finished sequence from its batch (`decode`).
`VLLMSampler` is the GPU backend; vLLM is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

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
    """Generation with transformers (`decode`), sequences of several questions per batch, sorted by prompt length."""

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
        torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        bar = progress_bar(total=len(jobs), desc=self.desc, unit="seq", disable=not self.progress, mininterval=2.0)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            enc = tok(
                [prompts[jobs[k][0]] for k in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.inference_mode():
                texts = decode(self.model, tok, enc, settings)
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
    """The sampler ``backend`` names (a `SAMPLERS` name, or ``package.module:Class``), serving M = base +
    ``adapter``."""
    return sampler_class(backend).create(model, adapter, batch_size=batch_size, desc=desc)


def sampler_class(backend: str) -> type[Sampler]:
    """The class of a `SAMPLERS` name or of an import path ``package.module:Class`` (a backend of one's own)."""
    if backend in SAMPLERS:
        return SAMPLERS[backend]
    module, _, name = backend.partition(":")
    if not name:
        raise ConfigError(f"Unknown sampler {backend!r}; known samplers: {sorted(SAMPLERS)}, or package.module:Class.")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"sampler {backend!r}: cannot import {name} from {module} ({exc}); give an importable "
            "package.module:Class whose class has create() and generate() like codelutra_nb.sampling.Sampler."
        ) from exc
    if not (callable(getattr(found, "create", None)) and callable(getattr(found, "generate", None))):
        raise ConfigError(f"sampler {backend!r} has no create() and generate(); see codelutra_nb.sampling.Sampler.")
    return found


def decode(model, tokenizer, batch: dict[str, torch.Tensor], settings: GenerationSettings) -> list[str]:
    """One completion per row of the left-padded ``batch``, as ``model.generate`` decodes it (temperature, top_p,
    the end-of-turn ids, ``settings.stop``), except that finished sequences leave the batch.

    ``generate`` keeps computing every row until the last one ends, and on a CPU a row costs the same whether it
    is finished or not: with one rambling answer among sixteen, fifteen finished rows run to ``max_new_tokens``
    too. Here the finished rows are dropped from the batch and from the KV cache (`DynamicCache.batch_select_indices`),
    as soon as a quarter of the rows have finished (each drop copies the cache).
    Greedy decoding gives ``generate``'s tokens (tests/test_sampling.py).
    """
    from transformers import DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    warpers = LogitsProcessorList()  # as generate builds them: only those that change the scores
    if not settings.greedy and settings.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(settings.temperature))
    if not settings.greedy and settings.top_p < 1.0:
        warpers.append(TopPLogitsWarper(settings.top_p))
    ends = set(_stop_ids(tokenizer))
    mask = batch["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        logits_to_keep=1,
    ).logits[:, -1]
    position = positions[:, -1:] + 1
    live = list(range(mask.size(0)))  # the sequence of each row still in the batch
    tokens: list[list[int]] = [[] for _ in live]
    ended: set[int] = set()  # rows whose sequence ended, until they are dropped
    for step in range(settings.max_new_tokens):
        scores = warpers(None, logits.float())
        picked = scores.argmax(-1) if settings.greedy else torch.multinomial(scores.softmax(-1), 1).squeeze(1)
        for row, (sequence, token) in enumerate(zip(live, picked.tolist())):
            if row in ended:
                continue
            if token in ends:
                ended.add(row)
                continue
            tokens[sequence].append(token)
            if settings.stop is not None:
                if settings.stop(tokenizer.decode(tokens[sequence], skip_special_tokens=True)):
                    ended.add(row)
        if len(ended) == len(live) or step == settings.max_new_tokens - 1:
            break
        if 4 * len(ended) >= len(live):  # dropping rows copies the cache: once a quarter of the rows ended
            keep = [row for row in range(len(live)) if row not in ended]
            index = torch.tensor(keep, device=mask.device)
            cache.batch_select_indices(index)
            mask, picked, position = mask[index], picked[index], position[index]
            live, ended = [live[k] for k in keep], set()
        mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)
        logits = model(
            input_ids=picked[:, None], attention_mask=mask, position_ids=position, past_key_values=cache
        ).logits[:, -1]
        position = position + 1
    return [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]


def _stop_ids(tokenizer) -> list[int]:
    """End-of-turn ids: the tokenizer's eos and, for ChatML models, ``<|im_end|>``."""
    ids = {tokenizer.eos_token_id}
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(i for i in ids if i is not None)
