"""The memory plan: peak GPU memory of sampling, training and evaluation, from the model's config.json alone.

`model_shape` reads the base model's config (a shipped copy for the presets' models and the embedded one, so it
works offline; else a local folder's ``config.json``; else the Hub's, fetched): L layers, hidden size h, intermediate
size I, vocabulary V, heads and key/value heads (q = heads x head_dim, k = kv_heads x head_dim), tied embeddings.
`plan` turns it and a run's parameters into bytes per stage; `preflight` (called by `stages.check_stages`, before
any stage runs) refuses a plan that does not fit the GPU's free memory, naming the changes that make it fit
(`advice`); ``python -m codelutra_nb params --plan [--gpu CARD]`` prints it.

The estimate (b: bytes of the weights' dtype, 2 for bfloat16 / float16, 4 for float32):

- Weights. Parameters P = L x (h·q + 2·h·k + q·h + 3·h·I) in the layers' linear layers, plus V·h for the
  embeddings (twice when not tied) and the norms. 16/32-bit: P·b. 4-bit NF4: the layers' linears at 0.516 bytes a
  parameter (4 bits, an 8-bit scale per 64 and a float32 one per 16,384), the rest at b for sampling and at 4 bytes
  for training (PEFT's ``prepare_model_for_kbit_training`` casts every non-4-bit parameter to float32).
- LoRA: n = r x the in + out features of each adapted linear, per layer. Training keeps n x 20 bytes (float32
  weights, gradients, Adam's two moments, and the frozen reference copy of M(t-1)); sampling a 4-bit M(t) keeps n x 4.
- Sampling and evaluation (the transformers sampler; vLLM sizes its own cache within ``vllm_memory``): a batch of B
  sequences (``sample_batch_size`` / ``eval_batch_size``) of prompt p plus N new tokens, p = ``max_length`` -
  ``max_new_tokens`` (a prompt and its sampled answer fit one training row; longer prompts need more). The peak is
  the larger of the prefill, B·p tokens each with (3·I + 4·h + 4·q)·b bytes of working tensors besides the prompt's
  KV cache, and the last step: the KV cache of B·(p + N) tokens at 2·L·k·b bytes a token, one layer's copy of it
  as it grows, and B·V float32 logits twice. A 4-bit layer also dequantizes one weight (h·I·b) at a time.
- Training: T tokens a step, ``train_batch_size`` x ``max_length``, doubled for preference pairs (chosen and
  rejected rows; sharing the prompt makes it fewer). a = bytes of the residual stream (4 in 4-bit training, whose
  float32 embeddings make it float32; else b). What one layer keeps for backward, per token: 8·h (the norms' float32
  inputs) + 4·q·b (attention's query, repeated key and value, output) + 3·I·b (the gated MLP's gate, activation and
  up outputs) + (1 + b) x the input features of each adapted linear (the LoRA dropout's mask and output; b without
  dropout). Without gradient checkpointing that is kept for all L layers; with it, each layer keeps its input (a·h)
  and one layer's worth is recomputed in the backward. Plus 4·a·h per token for the gradients in flight, the fused
  LM head's float32 tiles (2 x min(T, 4,096) x min(V, 32,768) x 4 bytes) and its input (T·h·a), and prompt
  sharing's attention mask (B·(2·max_length)²·a).
- The card: the peak above is what ``torch.cuda.max_memory_allocated`` would show; a plan fits when peak x 1.10
  (the allocator's fragmentation) + 0.6 GiB (CUDA context, cuBLAS workspace, kernels) is at most the card's memory
  (a plan for a card) or the GPU's free memory (the preflight). On several cards each process holds a whole model
  and its own batch: the plan is per card.

What only a GPU can confirm (`benchmarks/gpu_check.py` measures the peaks against these numbers): the activation
coefficients above, the attention kernel's working memory (counted as a fused kernel's: a math-kernel fallback
would need B·heads·p² more), and the allocator's overheads.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import EMBEDDED_MODEL
from .errors import DeviceError, ModelError
from .gpu import CARDS, GIB, Card, auto_dtype, check_kernels, current
from .progress import say

if TYPE_CHECKING:
    from .config import LoopConfig, ModelParams

MODEL_CONFIGS = Path(__file__).resolve().parent / "data" / "model_configs"
"""Shipped config.json copies of the presets' models, ``<namespace>--<name>.json``."""
EMBEDDED_CONFIG = "HuggingFaceTB--SmolLM2-135M-Instruct.json"
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
"""Bytes per parameter of bitsandbytes' NF4 with double quantization (blocks of 64, absmax blocks of 256)."""
FRAGMENTATION = 1.10
RESERVE_BYTES = int(0.6 * GIB)
"""What a process uses on the card besides its tensors: CUDA context, cuBLAS workspace, kernels."""
LM_HEAD_TOKENS, LM_HEAD_VOCAB = 4096, 32768
"""The tile TRL's fused LM head computes at once (tokens x vocabulary)."""
STEP_STAGES = {"sample": "sampling", "train": "training", "evaluate": "evaluation"}
"""The method's steps (`codelutra_nb.stages`) whose memory the plan estimates."""
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """What the memory of a decoder depends on, from its config.json."""

    layers: int
    hidden: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool
    qkv_bias: bool

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> ModelShape:
        text = config.get("text_config") or config
        missing = [k for k in ("num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size") if k not in text]
        missing += [] if "num_attention_heads" in text else ["num_attention_heads"]
        if missing:
            raise ModelError(
                f"{where} has no {', '.join(missing)}: the memory plan reads decoder configs (Llama, Qwen2, Mistral "
                "and alike). Give the base model's own config.json."
            )
        heads = int(text["num_attention_heads"])
        return cls(
            layers=int(text["num_hidden_layers"]),
            hidden=int(text["hidden_size"]),
            intermediate=int(text["intermediate_size"]),
            vocab=int(text["vocab_size"]),
            heads=heads,
            kv_heads=int(text.get("num_key_value_heads") or heads),
            head_dim=int(text.get("head_dim") or text["hidden_size"] // heads),
            tied=bool(text.get("tie_word_embeddings", config.get("tie_word_embeddings", False))),
            qkv_bias=bool(text.get("attention_bias", text.get("model_type") == "qwen2")),
        )

    @property
    def q(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one decoder layer."""
        h, q, k, i = self.hidden, self.q, self.kv, self.intermediate
        shapes = ((h, q), (h, k), (h, k), (q, h), (h, i), (h, i), (i, h))
        return dict(zip(LINEARS, shapes))

    @property
    def layer_linear_params(self) -> int:
        return sum(a * b for a, b in self.linears().values())

    @property
    def other_params(self) -> int:
        """Embeddings (and the LM head when not tied), norms and biases: what 4-bit loading leaves unquantized."""
        biases = (self.q + 2 * self.kv) * self.layers if self.qkv_bias else 0
        return self.vocab * self.hidden * (1 if self.tied else 2) + (2 * self.layers + 1) * self.hidden + biases

    @property
    def params(self) -> int:
        return self.layers * self.layer_linear_params + self.other_params


@dataclass(frozen=True)
class StagePlan:
    """One stage's peak memory, by part (bytes), and what it was computed for."""

    stage: str
    parts: dict[str, int]
    shape: str

    @property
    def peak(self) -> int:
        return sum(self.parts.values())

    @property
    def needs(self) -> int:
        """What the card must have free: the peak, fragmentation and the process's own reserve."""
        return int(self.peak * FRAGMENTATION) + RESERVE_BYTES


@dataclass(frozen=True)
class MemoryPlan:
    """Every stage's peak on one card, for one model and run."""

    model: str
    shape: ModelShape
    card: Card
    dtype: str
    stages: list[StagePlan]

    @property
    def fits(self) -> bool:
        return all(s.needs <= self.card.memory_bytes for s in self.stages)

    def over(self) -> list[StagePlan]:
        return [s for s in self.stages if s.needs > self.card.memory_bytes]

    def text(self) -> str:
        """The plan as a person reads it: one line per stage with its parts, then whether it fits."""
        per = f" each ({self.card.count} processes)" if self.card.count > 1 else ""
        lines = [
            f"memory plan of {self.model} ({self.shape.params / 1e9:.2f}B parameters, {self.dtype}) on "
            f"{self.card.name}: {self.card.memory_gib:.1f} GiB{per}"
        ]
        for s in self.stages:
            parts = ", ".join(f"{name} {_gib(size)}" for name, size in s.parts.items() if size)
            verdict = "fits" if s.needs <= self.card.memory_bytes else "DOES NOT FIT"
            peak = f"{_gib(s.peak):>5} GiB peak, needs {_gib(s.needs)} GiB: {verdict}"
            lines.append(f"  {s.stage:<10} {peak}  [{s.shape}: {parts}]")
        return "\n".join(lines)


def _gib(size: int) -> str:
    return f"{size / GIB:.1f}"


def model_config(params: ModelParams) -> tuple[dict[str, Any], str]:
    """The base model's config.json and where it came from: the shipped copy, a local folder, or the Hub."""
    if params.base_model == EMBEDDED_MODEL:
        path = MODEL_CONFIGS / EMBEDDED_CONFIG
        return json.loads(path.read_text()), str(path)
    shipped = MODEL_CONFIGS / f"{params.base_model.replace('/', '--')}.json"
    if "/" in params.base_model and shipped.is_file():
        return json.loads(shipped.read_text()), str(shipped)
    local = Path(params.base_model).expanduser() / "config.json"
    if local.is_file():
        return json.loads(local.read_text()), str(local)
    try:
        from huggingface_hub import hf_hub_download

        fetched = hf_hub_download(params.base_model, "config.json")
    except Exception as exc:  # the Hub's many errors all mean the same here: no config to plan with
        raise ModelError(
            f"The memory plan needs base_model={params.base_model!r}'s config.json: it is not shipped with the "
            f"toolkit, not a folder here, and fetching it from the Hub failed ({type(exc).__name__}: {exc}). Give a "
            "folder holding its config.json, or check the Hub id, the network and HF_TOKEN."
        ) from exc
    return json.loads(Path(fetched).read_text()), f"{params.base_model} on the Hub"


def model_shape(params: ModelParams) -> ModelShape:
    config, where = model_config(params)
    return ModelShape.from_config(config, where)


def plan(cfg: LoopConfig, card: Card, shape: ModelShape | None = None) -> MemoryPlan:
    """The peak memory of ``cfg``'s sampling, training and evaluation on ``card`` (see the module doc)."""
    shape = shape or model_shape(cfg.model)
    dtype = cfg.model.dtype if cfg.model.dtype != "auto" else auto_dtype(card.capability)
    b = 4 if dtype == "float32" else 2
    quantized = cfg.model.load_in_4bit
    lora = _lora_params(shape, cfg.training.lora_r, _adapted(cfg.training.lora_targets))
    linear_weights = shape.layers * shape.layer_linear_params
    if quantized:
        inference_weights = int(linear_weights * NF4_BYTES) + shape.other_params * b + lora * 4
        training_weights = int(linear_weights * NF4_BYTES) + shape.other_params * 4
    else:
        inference_weights = training_weights = shape.params * b
    s, t, e = cfg.sampling, cfg.training, cfg.evaluation
    prompt = t.max_length - s.max_new_tokens if t.max_length > s.max_new_tokens else t.max_length // 2
    stages = []
    if cfg.method.uses_samples:
        stages.append(
            _generation(
                "sampling", shape, b, quantized, inference_weights, s.sample_batch_size, prompt, s.max_new_tokens
            )
        )
    stages.append(_training(cfg, shape, b, quantized, training_weights, lora))
    stages.append(
        _generation(
            "evaluation", shape, b, quantized, inference_weights, e.eval_batch_size, prompt, e.eval_max_new_tokens
        )
    )
    return MemoryPlan(cfg.model.base_model, shape, card, dtype, stages)


def _adapted(targets: list[str] | str) -> list[str]:
    """The linear layers ``lora_targets`` gives adapters."""
    return list(LINEARS) if targets == "all-linear" else [name for name in LINEARS if name in targets]


def _lora_params(shape: ModelShape, rank: int, adapted: list[str]) -> int:
    return shape.layers * rank * sum(a + b for name, (a, b) in shape.linears().items() if name in adapted)


def _generation(
    stage: str, shape: ModelShape, b: int, quantized: bool, weights: int, batch: int, prompt: int, new: int
) -> StagePlan:
    kv_token = 2 * shape.layers * shape.kv * b
    prefill_tokens = batch * prompt
    prefill = prefill_tokens * kv_token + prefill_tokens * (3 * shape.intermediate + 4 * shape.hidden + 4 * shape.q) * b
    cache = batch * (prompt + new) * kv_token
    last_step = cache + cache // shape.layers + 2 * batch * shape.vocab * 4
    dequantized = shape.hidden * shape.intermediate * b if quantized else 0
    parts = {"weights": weights, "KV cache and activations": max(prefill, last_step), "dequantized weight": dequantized}
    return StagePlan(stage, parts, f"{batch} sequences x ({prompt} prompt + {new} new) tokens")


def _training(cfg: LoopConfig, shape: ModelShape, b: int, quantized: bool, weights: int, lora: int) -> StagePlan:
    t = cfg.training
    pairs = cfg.method.make_trainer().pairs
    rows = t.train_batch_size * (2 if pairs else 1)
    tokens = rows * t.max_length
    a = 4 if quantized else b
    h, q, i = shape.hidden, shape.q, shape.intermediate
    lora_inputs = sum(shape.linears()[name][0] for name in _adapted(t.lora_targets))
    per_layer = 8 * h + 4 * q * b + 3 * i * b + (1 + b if t.lora_dropout > 0 else b) * lora_inputs
    if t.gradient_checkpointing:
        kept = tokens * (shape.layers * a * h + per_layer)
    else:
        kept = tokens * shape.layers * per_layer
    head = 2 * min(tokens, LM_HEAD_TOKENS) * min(shape.vocab, LM_HEAD_VOCAB) * 4 + tokens * h * a
    if quantized:
        head += min(shape.vocab, LM_HEAD_VOCAB) * h * b  # the float32 head's tile cast to the compute dtype
    mask = t.train_batch_size * (2 * t.max_length) ** 2 * a if pairs and t.share_prompt else 0
    parts = {
        "weights": weights,
        "LoRA, gradients, Adam, reference": lora * 20,
        "activations": kept + tokens * 4 * a * h,
        "LM head": head,
        "attention mask": mask,
    }
    checkpointing = "with" if t.gradient_checkpointing else "without"
    shape_text = f"{rows} rows x {t.max_length} tokens, {checkpointing} gradient checkpointing"
    return StagePlan("training", parts, shape_text)


def advice(
    cfg: LoopConfig, card: Card, shape: ModelShape, stages: set[str] | None = None
) -> tuple[dict[str, Any], MemoryPlan] | None:
    """The changes that make ``cfg``'s plan (its ``stages``, default all) fit ``card``: first those that leave the
    results as they are (gradient checkpointing, smaller batches with the same global batch), then 4-bit, then a
    shorter ``max_length``; with the plan they give. None when none does."""
    changes: dict[str, Any] = {}
    current = _only(plan(cfg, card, shape), stages)
    while not current.fits:
        step = _next_change(cfg.replace(**changes), {s.stage for s in current.over()})
        if step is None:
            return None
        changes.update(step)
        current = _only(plan(cfg.replace(**changes), card, shape), stages)
    return changes, current


def _only(full: MemoryPlan, stages: set[str] | None) -> MemoryPlan:
    return full if stages is None else dataclasses.replace(full, stages=[s for s in full.stages if s.stage in stages])


def _next_change(cfg: LoopConfig, over: set[str]) -> dict[str, Any] | None:
    t, s, e = cfg.training, cfg.sampling, cfg.evaluation
    if "training" in over and not t.gradient_checkpointing:
        return {"gradient_checkpointing": True}
    if "training" in over and t.train_batch_size > 1:
        return {"train_batch_size": t.train_batch_size // 2, "grad_accum": t.grad_accum * 2}
    if "sampling" in over and s.sample_batch_size > 1:
        return {"sample_batch_size": s.sample_batch_size // 2}
    if "evaluation" in over and e.eval_batch_size > 1:
        return {"eval_batch_size": e.eval_batch_size // 2}
    if not cfg.model.load_in_4bit:
        return {"load_in_4bit": True}
    if "training" in over and t.max_length > 256:
        return {"max_length": max(256, t.max_length * 3 // 4 // 64 * 64)}
    return None


def refusal(current: MemoryPlan, cfg: LoopConfig) -> str:
    """Why ``current`` does not fit, and what to change (`advice`), as the preflight and ``params --plan`` say it."""
    stages = ", ".join(f"{s.stage} needs {_gib(s.needs)} GiB" for s in current.over())
    text = f"The memory plan does not fit {current.card.name} ({current.card.memory_gib:.1f} GiB): {stages}."
    found = advice(cfg, current.card, current.shape, {s.stage for s in current.stages})
    if found is None:
        return (
            f"{text} No change of batch sizes, gradient checkpointing, 4-bit or max_length makes it fit: choose a "
            "smaller base_model or a GPU with more memory."
        )
    changes, fixed = found
    values = ", ".join(f"{k}: {json.dumps(v)}" for k, v in changes.items())
    peaks = ", ".join(f"{s.stage} {_gib(s.needs)}" for s in fixed.stages)
    return f'{text} Change: -y "params: {{{values}}}" (then it needs {peaks} GiB).'


def card_for(cfg: LoopConfig, name: str | None) -> Card:
    """The card ``params --plan`` plans for: ``--gpu``, else the preset's ``gpu``, else the GPU this runs on."""
    chosen = name or cfg.model.gpu
    if chosen is not None:
        if chosen not in CARDS:
            raise DeviceError(f"Unknown GPU {chosen!r}; the plan knows {', '.join(CARDS)}.")
        return CARDS[chosen]
    device = current()
    if device is None:
        raise DeviceError(
            f"No GPU here and none named: give --gpu ({', '.join(CARDS)}), or set gpu in the preset, to plan for one."
        )
    return dataclasses.replace(device.card, memory_gib=device.total_bytes / GIB)


def preflight(cfg: LoopConfig, steps: set[str]) -> MemoryPlan | None:
    """Before a run's first stage: refuse (`DeviceError`) a GPU torch has no kernels for, or a plan whose stages
    among ``steps`` (sample, train, evaluate) do not fit the GPU's free memory; None on a CPU."""
    device = current()
    if device is None:
        return None
    check_kernels()
    wanted = {STEP_STAGES[step] for step in steps if step in STEP_STAGES}
    try:
        shape = model_shape(cfg.model)
    except ModelError as err:
        say(f"memory plan skipped: {err}")
        return None
    checked = _only(plan(cfg, device.card, shape), wanted)
    if not checked.fits:
        raise DeviceError(refusal(checked, cfg) + " Nothing was run.")
    say(checked.text())
    return checked
