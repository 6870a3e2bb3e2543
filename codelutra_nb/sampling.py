"""Stage 1 engine: K candidate programs per question from M(t-1).

`Sampler` is the interface and `SAMPLERS` the registry the ``sampler``
parameter names. `TransformersSampler` batches sequences of many questions
(one question per call ran at 29 tok/s with the embedded model here, sixteen at
126 tok/s) and drops each finished sequence from its batch (`decode`).
`VLLMSampler` runs vLLM in a child process (`codelutra_nb.vllm_worker`), under the interpreter that has it.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from . import parallel
from .config import ModelParams
from .errors import ConfigError, ModelError
from .progress import progress_bar, say

Conversation = list[dict[str, str]]
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The LoRA ranks vLLM accepts as ``max_lora_rank``; an adapter's rank is rounded up to one of them."""
VLLM_ENV = Path(os.environ.get("CODELUTRA_VLLM_ENV") or "~/.cache/codelutra_nb/venv-vllm").expanduser()
"""Where `make setup-vllm` (scripts/setup_vllm.sh) puts vLLM, one environment per user whatever the clone (its pins
differ from the toolkit's): `VLLMSampler` runs its interpreter."""


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
        """The sampler serving M = base + ``adapter`` (`make_sampler` also passes ``cfg``, the run's `LoopConfig`,
        to a ``create`` that takes it)."""
        ...

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        """``settings.n`` completions per conversation, in order; deterministic for a given seed."""
        ...


class TransformersSampler:
    """Generation with transformers (`decode`), sequences of several questions per batch, sorted by prompt length.

    Each batch is seeded on its own (`batch_seed`), so its samples depend on the call's seed and the batch alone. In
    a group of processes (`codelutra_nb.parallel`) the processes take the batches in turn and each gets every
    completion back: the same completions as one process.
    """

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
        prompts = chat_prompts(tok, conversations)
        jobs = [(i, j) for i in range(len(prompts)) for j in range(settings.n)]
        order = sorted(range(len(jobs)), key=lambda k: len(prompts[jobs[k][0]]))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        me = parallel.group()
        mine = range(me.rank, len(batches), me.size)  # processes take the batches in turn
        device = next(self.model.parameters()).device
        shown = self.progress and me.main
        total = sum(len(batches[b]) for b in mine)
        bar = progress_bar(total=total, desc=self.desc, unit="seq", disable=not shown, mininterval=2.0)
        texts: dict[int, str] = {}
        for number in mine:
            batch = batches[number]
            torch.manual_seed(batch_seed(seed, number))
            enc = tok(
                [prompts[jobs[k][0]] for k in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.inference_mode():
                texts.update(zip(batch, decode(self.model, tok, enc, settings)))
            bar.update(len(batch))
        bar.close()
        results: list[list[str]] = [[""] * settings.n for _ in prompts]
        for part in parallel.gather(texts):
            for k, text in part.items():
                i, j = jobs[k]
                results[i][j] = text
        return results


def batch_seed(seed: int, batch: int) -> int:
    """The seed of batch number ``batch`` of a generate call seeded ``seed`` (the same in whichever process)."""
    digest = hashlib.blake2b(f"{seed}/{batch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class VLLMSampler:
    """Generation with vLLM, in a child process (`codelutra_nb.vllm_worker`): its memory is returned when the sampler
    closes, and a crash fails the shard, not the kernel. M(t) is served merged (base + adapter merged once, in the
    base's dtype, kept in ``model_cache_dir``), or with ``vllm_adapter: lora`` as a LoRA request (its rank rounded up
    to one of `VLLM_LORA_RANKS`). The child may run another interpreter (``vllm_python``), so vLLM can
    live in an environment of its own. Prompts go as the transformers sampler's token ids, and the completions are cut
    by the same rules (end-of-turn ids, ``settings.stop``), so both samplers yield the same programs."""

    def __init__(self, spec: dict, tokenizer):
        """Start the engine ``spec`` describes (`engine_spec`) in a child process."""
        import subprocess
        import tempfile

        self.spec, self.tokenizer, self.reused = spec, tokenizer, False
        self.log = tempfile.NamedTemporaryFile(prefix="codelutra-vllm-", suffix=".log", delete=False)  # noqa: SIM115
        worker = Path(__file__).with_name("vllm_worker.py")
        self.process = subprocess.Popen(
            [spec["python"], "-I", str(worker), json.dumps(spec)],  # -I: not this package's folder on sys.path
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )
        self.device = self._answer("starting the engine")["device"]

    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str, cfg=None) -> Sampler:
        """The engine here, or with ``vllm_url`` the server there (`codelutra_nb.vllm_client`)."""
        from .models import load_tokenizer

        if parallel.group().size > 1:
            raise ConfigError(
                f"sampler: vllm runs in one process (its engine has its own), not in each of {parallel.group().size}. "
                "Run this stage without accelerate launch (num_processes does not launch it with vLLM), or set "
                "sampler: transformers to share its batches between the processes."
            )
        if cfg is not None and cfg.sampling.vllm_url:
            from .vllm_client import VLLMServerSampler

            url = cfg.sampling.vllm_url
            return VLLMServerSampler.create(model, adapter, url=url, batch_size=batch_size, desc=desc)
        spec = engine_spec(model, adapter, cfg)
        engine = _KEPT.take(spec) or cls(spec, load_tokenizer(model))
        served = (
            "the base model"
            if adapter is None
            else "base + adapter " + ("as a LoRA request" if "lora" in spec else "merged")
        )
        kept = "; the engine the stage before left running" if engine.reused else ""
        say(f"{desc}: vLLM runs on {engine.device} ({spec['python']}), serving {served}{kept}.")
        return engine

    @staticmethod
    def check(cfg) -> None:
        """Before any stage runs: `ModelError` saying how to install vLLM when there is none to run (`vllm_python`)."""
        if not cfg.sampling.vllm_url:
            vllm_python(cfg.sampling.vllm_python)

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        tok = self.tokenizer
        prompts = prompt_ids(tok, conversations)
        request = {"prompts": prompts, **vllm_settings(tok, settings), "seed": seed}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        outputs = self._answer(f"generating {len(prompts)} x {settings.n} sequences")["outputs"]
        return [[_cut(tok, ids, settings) for ids in per_prompt] for per_prompt in outputs]

    def close(self) -> None:
        """End the engine process (its memory is returned)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except Exception:  # noqa: BLE001 - a hung engine is killed
                self.process.kill()
                self.process.wait()

    def __del__(self) -> None:
        if hasattr(self, "process"):
            self.close()

    def _answer(self, doing: str) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            tail = Path(self.log.name).read_text(errors="replace").strip().splitlines()[-15:]
            raise ModelError(
                f"The vLLM engine process ended while {doing} (exit status {self.process.returncode}). Its last "
                f"lines ({self.log.name}):\n  " + "\n  ".join(tail)
            )
        return json.loads(line)


def engine_spec(model: ModelParams, adapter: Path | None, cfg=None) -> dict:
    """What the vLLM engine serving M = base + ``adapter`` is started with (`vllm_worker`): two stages whose specs
    are equal can share one engine (`keep_engine`)."""
    from .models import merged_model, torch_dtype

    as_lora = adapter is not None and cfg is not None and cfg.sampling.vllm_adapter == "lora"
    on_gpu = torch.cuda.is_available()
    spec = {
        "python": vllm_python(cfg.sampling.vllm_python if cfg is not None else None),
        "model": str(merged_model(model, None if as_lora else adapter)),
        "dtype": str(torch_dtype(model)).removeprefix("torch."),
        "max_model_len": cfg.training.max_length if cfg is not None else 2048,
        "memory": (cfg.sampling.vllm_memory if cfg is not None else None) or (0.85 if on_gpu else 0.15),
        "eager": not on_gpu,
    }
    if as_lora:
        assert adapter is not None
        rank = json.loads((adapter / "adapter_config.json").read_text())["r"]
        spec["lora"] = {"path": str(adapter), "rank": next(r for r in VLLM_LORA_RANKS if r >= rank)}
    return spec


class _KeptEngine:
    """The one vLLM engine a stage left running for the next stage, which serves the same model (`keep_engine`)."""

    def __init__(self) -> None:
        self.engine: VLLMSampler | None = None
        self.keeping = False

    def take(self, spec: dict) -> VLLMSampler | None:
        """The kept engine when it was started with ``spec`` and still runs; any other kept engine is ended."""
        engine, self.engine = self.engine, None
        if engine is not None and engine.spec == spec and engine.process.poll() is None:
            engine.reused = True
            return engine
        if engine is not None:
            engine.close()
        return None

    def end(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


_KEPT = _KeptEngine()
atexit.register(_KEPT.end)


def keep_engine(keep: bool) -> None:
    """Said before each stage of a run (`stages.keeps_engine`): whether the engine the stage ends with is kept for the
    next stage, which serves the same model (the base evaluation and the first sampling both serve M(0)), instead of
    ending with the stage. An engine kept by the stage before and not taken is ended here unless it was meant to
    outlive this stage too."""
    if not _KEPT.keeping:
        _KEPT.end()
    _KEPT.keeping = keep


def vllm_python(chosen: str | None) -> str:
    """The interpreter that runs vLLM: ``chosen``, else this one when it imports vllm, else the environment
    `make setup` made (`VLLM_ENV`); `ModelError` saying how to install it when there is none."""
    if chosen:
        if not (Path(chosen).is_file() or shutil.which(chosen)):
            raise ModelError(
                f"vllm_python {chosen!r} is no interpreter here; give the python of an environment with vLLM."
            )
        return chosen
    if importlib.util.find_spec("vllm") is not None:
        import sys

        return sys.executable
    setup = VLLM_ENV / "bin" / "python"
    if setup.exists():
        return str(setup)
    raise ModelError(
        "sampler: vllm needs vLLM, and neither this Python nor the environment `make setup` makes "
        f"({VLLM_ENV}) has it. Run `make setup-vllm` (vLLM's CPU build on a machine without CUDA, `vllm` with it), "
        "give vllm_python: the interpreter of an environment that has vLLM, or set sampler: transformers."
    )


def prompt_ids(tokenizer, conversations: Sequence[Conversation]) -> list[list[int]]:
    """`chat_prompts` as token ids, as vLLM (here or a server) gets them."""
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in chat_prompts(tokenizer, conversations)]


def vllm_settings(tokenizer, settings: GenerationSettings) -> dict:
    """``settings`` as vLLM's sampling fields (greedy as temperature 0), with the end-of-turn ids as stop ids."""
    return {
        "n": settings.n,
        "temperature": 0.0 if settings.greedy else settings.temperature,
        "top_p": 1.0 if settings.greedy else settings.top_p,
        "max_tokens": settings.max_new_tokens,
        "stop_token_ids": _stop_ids(tokenizer),
    }


def chat_prompts(tokenizer, conversations: Sequence[Conversation]) -> list[str]:
    """Each conversation as the prompt text a sampler continues (the chat template with the generation prompt)."""
    return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]


def _cut(tokenizer, ids: Sequence[int], settings: GenerationSettings) -> str:
    """The completion of ``ids`` as `decode` ends it: at an end-of-turn id, or once ``settings.stop`` holds."""
    ends, tokens = set(_stop_ids(tokenizer)), []
    for token in ids:
        if token in ends:
            break
        tokens.append(token)
        if settings.stop is not None and settings.stop(tokenizer.decode(tokens, skip_special_tokens=True)):
            break
    return tokenizer.decode(tokens, skip_special_tokens=True)


class AutoSampler:
    """vLLM where it can start (`vllm_python` finds an interpreter that has it, and its engine starts), otherwise
    the transformers sampler; says which engine runs and why."""

    @classmethod
    def create(cls, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str, cfg=None) -> Sampler:
        if parallel.group().size > 1:
            if parallel.is_main():
                say(f"{desc}: the transformers sampler runs (sampler: auto, in {parallel.group().size} processes).")
            return TransformersSampler.create(model, adapter, batch_size=batch_size, desc=desc)
        if cfg is not None and cfg.sampling.vllm_url:
            return VLLMSampler.create(model, adapter, batch_size=batch_size, desc=desc, cfg=cfg)  # the server's
        try:
            python = vllm_python(cfg.sampling.vllm_python if cfg is not None else None)
        except ModelError:
            say(
                f"{desc}: the transformers sampler runs (sampler: auto; no vLLM here: `make setup` installs it "
                "unless NO_VLLM=1)."
            )
            return TransformersSampler.create(model, adapter, batch_size=batch_size, desc=desc)
        try:
            engine = VLLMSampler.create(model, adapter, batch_size=batch_size, desc=desc, cfg=cfg)
        except ModelError as err:
            first = str(err).splitlines()[0]
            say(f"{desc}: the transformers sampler runs (sampler: auto; vLLM in {python} did not start: {first}).")
            return TransformersSampler.create(model, adapter, batch_size=batch_size, desc=desc)
        return engine


SAMPLERS: dict[str, type[Sampler]] = {
    "auto": AutoSampler,
    "transformers": TransformersSampler,
    "vllm": VLLMSampler,
}
"""Backend name (the ``sampler`` parameter) -> its class."""


def in_one_process(cfg) -> bool:
    """Whether the run's sampler keeps sampling and evaluation in one process whatever ``num_processes`` says: vLLM
    (``sampler: vllm``, or ``auto`` where vLLM is installed) runs its own engine; a backend of one's own is not known
    to share its work. Only the transformers sampler shares its batches between processes."""
    if cfg.sampling.sampler == "auto":
        try:
            vllm_python(cfg.sampling.vllm_python)
        except ModelError:
            return False
        return True
    return cfg.sampling.sampler != "transformers"


def make_sampler(
    backend: str, model: ModelParams, adapter: Path | None, *, batch_size: int, desc: str = "sampling", cfg=None
) -> Sampler:
    """The sampler ``backend`` names (a `SAMPLERS` name, or ``package.module:Class``), serving M = base +
    ``adapter``; a ``create`` that takes ``cfg`` gets the run's `LoopConfig` (its engine's own parameters)."""
    cls = sampler_class(backend)
    extra = {"cfg": cfg} if "cfg" in inspect.signature(cls.create).parameters else {}
    return cls.create(model, adapter, batch_size=batch_size, desc=desc, **extra)


def check_sampler(cfg) -> None:
    """Before a run generates anything: what its sampler can tell without starting (a ``check(cfg)`` of its class)."""
    check = getattr(sampler_class(cfg.sampling.sampler), "check", None)
    if callable(check):
        check(cfg)


def close(sampler: Sampler | None) -> None:
    """Let a sampler with an engine process of its own end it (`VLLMSampler.close`), or keep it for the next stage
    when the run said so (`keep_engine`)."""
    if isinstance(sampler, VLLMSampler) and _KEPT.keeping and sampler.process.poll() is None:
        _KEPT.end()
        _KEPT.engine = sampler
    elif sampler is not None and callable(getattr(sampler, "close", None)):
        sampler.close()  # type: ignore[attr-defined]


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
