"""What made each artifact: the parameters that shaped it and the artifacts it was made from.

Before a stage writes anything it records, in ``iter-<t>/provenance.json``, the values of the parameters that can
change its output (each `config.param` names the stages it ``shapes``; the method adds its own and its
`Method.pair_reads`, the trainer drops what it ignores) and the record id of each input artifact (`inputs`). A stage
whose output, or a resume point of it (checkpoint shards, training checkpoints), exists compares that record with
the values it would use now, and refuses before any work when they differ (`StaleArtifactError`, naming each
parameter with both values and the ways on); ``force`` redoes it. Batch sizes, workers, push settings and the like
shape nothing, so they never count.

Artifacts written before records existed are taken as made with the values in their iteration's ``metrics.json``
(its ``config``), else as made with this run's values (said once per artifact); nothing is written for them.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import layout
from .config import EVALUATE, PAIR, SAMPLE, TRAIN, VERIFY, LoopConfig
from .errors import StaleArtifactError
from .progress import say
from .store import LocalStore

OUTPUTS: dict[str, str] = {
    SAMPLE: "samples",
    VERIFY: "verdicts",
    PAIR: "preferences",
    TRAIN: "adapter",
    EVALUATE: "metrics",
}
"""Stage -> the artifact it makes (the baseline is the evaluate stage of iteration 0)."""

ALSO_MADE: dict[str, tuple[str, ...]] = {EVALUATE: ("evaluation",)}
"""Stage -> the other artifacts it writes beside its output."""

_SAID: set[str] = set()
"""Artifacts without a record already said in this process."""

RUN_WIDE = ("method", "base_model")
"""Parameters an iteration must share with the M(t-1) it starts from (another method or base model is another run)."""


def inputs(stage: str, t: int) -> list[tuple[int, str]]:
    """The artifacts (iteration, name) a stage of iteration t is made from."""
    previous = [(t - 1, "adapter")] if t > 1 else []
    return {
        SAMPLE: previous,
        VERIFY: [(t, "samples")],
        PAIR: [(t, "verdicts")],
        TRAIN: [(t, "preferences"), *previous],
        EVALUATE: [(t, "adapter")] if t > 0 else [],
    }[stage]


def shaping(stage: str, cfg: LoopConfig) -> dict[str, Any]:
    """The values of the parameters that shape ``stage``'s output under ``cfg``, by flat name."""
    names = [f.name for s in cfg.sections() for f in dataclasses.fields(s) if stage in f.metadata["shapes"]]
    if stage == PAIR:
        names += cfg.method.pair_reads
    if stage == TRAIN:
        names = [n for n in names if n not in cfg.method.make_trainer().ignores]
    values = cfg.to_dict()
    return {name: _plain(values[name]) for name in dict.fromkeys(names)}


def made_from(cfg: LoopConfig, store: LocalStore, stage: str, t: int) -> dict[str, Any]:
    """What ``stage`` of iteration t makes its output from now: the shaping values and the inputs' record ids."""
    return {
        "params": shaping(stage, cfg),
        "inputs": {layout.artifact_path(i, name): _id(store, i, name) for i, name in inputs(stage, t)},
    }


def record(cfg: LoopConfig, store: LocalStore, stage: str, t: int) -> None:
    """Write what is about to make ``stage``'s output of iteration t: a new id, the shaping values, the inputs' ids;
    and tell the store the stage's artifacts are being remade."""
    for artifact in (OUTPUTS[stage], *ALSO_MADE.get(stage, ())):
        store.replacing(t, artifact)
    records = _records(store, t)
    records[OUTPUTS[stage]] = {
        "id": uuid.uuid4().hex[:16],
        "stage": stage,
        **made_from(cfg, store, stage, t),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.write_json(t, "provenance", records)


@dataclass(frozen=True)
class Difference:
    """A stored artifact made otherwise than the run asks: one parameter's two values, or an input remade since."""

    artifact: str
    """``iter-<t>/<file>``."""
    name: str | None = None
    stored: Any = None
    now: Any = None
    remade_input: str | None = None
    """The input (``iter-<t>/<file>``) remade after this artifact was made from it."""

    def __str__(self) -> str:
        if self.remade_input is not None:
            return f"made from another {self.remade_input} (it was remade since)"
        return f"{self.name} was {_text(self.stored)}, now {_text(self.now)}"


def check(cfg: LoopConfig, store: LocalStore, stage: str, t: int) -> bool:
    """Whether ``stage``'s output of iteration t exists, made with ``cfg``'s values (so the stage skips).

    Raises `StaleArtifactError` when it, or a resume point of it, was made with other values; with ``force``
    nothing is compared (the stage redoes it).
    """
    check_stages(cfg, store, [(stage, t)])
    return not cfg.run.force and store.has(t, OUTPUTS[stage])


def check_stages(cfg: LoopConfig, store: LocalStore, stages: Sequence[tuple[str, int]]) -> None:
    """`StaleArtifactError` naming every difference of the (stage, iteration) pairs a run is about to run, before
    any of them runs; nothing with ``force``."""
    if cfg.run.force:
        return
    found = [d for stage, t in stages for d in differences(cfg, store, stage, t)]
    if found:
        raise StaleArtifactError(message(cfg, found))


def differences(cfg: LoopConfig, store: LocalStore, stage: str, t: int) -> list[Difference]:
    """What differs between ``cfg`` and the values that made ``stage``'s stored output (or resume point) in
    iteration t; for the sample stage, also the run-wide values of the M(t-1) it starts from."""
    artifact = OUTPUTS[stage]
    found: list[Difference] = []
    if stage == SAMPLE and t > 1 and store.has(t - 1, "adapter"):
        run_wide = {name: _plain(cfg.to_dict()[name]) for name in RUN_WIDE}
        stored_run = _stored(store, "adapter", t - 1)
        found += _differing(cfg, store, stored_run, layout.artifact_path(t - 1, "adapter"), run_wide)
    if not (store.has(t, artifact) or _resume_point(store, stage, t)):
        return found
    stored, where = _stored(store, artifact, t), layout.artifact_path(t, artifact)
    found += _differing(cfg, store, stored, where, shaping(stage, cfg))
    for path, made_from in (stored or {}).get("inputs", {}).items():
        current = _id(store, *_parse(path))
        if made_from and current and made_from != current:
            found.append(Difference(where, remade_input=path))
    return found


def message(cfg: LoopConfig, found: Sequence[Difference]) -> str:
    """The refusal: each artifact and what differs, then the ways on."""
    by_artifact: dict[str, list[str]] = {}
    for d in found:
        by_artifact.setdefault(d.artifact, []).append(str(d))
    lines = [f"{artifact}: {'; '.join(parts)}" for artifact, parts in by_artifact.items()]
    stored = {d.name: d.stored for d in found if d.name is not None}
    ways = [
        f"a new store_dir for this run (one store per run; this one is {cfg.run.store_dir})",
        "force: true to redo these stages with this run's values (their artifacts are overwritten, and what was made "
        "from them must be redone too)",
    ]
    if stored:
        values = ", ".join(f"{name}: {_text(value)}" for name, value in stored.items())
        ways.append(f'or run with the stored values: -y "params: {{{values}}}" (--set NAME=VALUE on the command line)')
    return (
        f"The store {cfg.run.store_dir} holds artifacts made with other values than this run's; nothing was run or "
        "written.\n  " + "\n  ".join(lines) + "\nWays on: " + "; ".join(ways) + "."
    )


def _differing(
    cfg: LoopConfig, store: LocalStore, stored: dict[str, Any] | None, where: str, now: dict[str, Any]
) -> list[Difference]:
    """The parameters of ``now`` whose value differs from the one in ``stored``, the record of the artifact at
    ``where`` (None: no record, nothing to compare); paths compare as the store pushes them (a record pulled from
    the Hub names another machine's folders by placeholders)."""
    if stored is None:
        return []
    legacy = "id" not in stored  # a metrics.json config: null stood for a method's own default (``trainer``)
    defaults = {f.name: f.default for s in cfg.sections() for f in dataclasses.fields(s)}
    return [
        Difference(where, name, stored["params"][name], value)
        for name, value in now.items()
        if name in stored["params"]
        and store.portable_value(stored["params"][name]) != store.portable_value(value)
        and not (legacy and stored["params"][name] is None and defaults[name] is not None)
    ]


def _records(store: LocalStore, t: int) -> dict[str, Any]:
    return store.read_json(t, "provenance") if store.has(t, "provenance") else {}


def _stored(store: LocalStore, artifact: str, t: int) -> dict[str, Any] | None:
    """The record of an artifact; for one written before records existed, its iteration's config (no id); None
    (and a note) when neither exists."""
    found = _records(store, t).get(artifact)
    if found is not None:
        return found
    if store.has(t, "metrics"):
        config = store.read_json(t, "metrics").get("config")
        if config:
            return {"params": config}
    where = layout.artifact_path(t, artifact)
    if where in _SAID:
        return None
    _SAID.add(where)
    say(
        f"note: {where} has no record of the values that made it (written before "
        "records existed); it is taken as made with this run's values."
    )
    return None


def _id(store: LocalStore, t: int, artifact: str) -> str | None:
    stored = _records(store, t).get(artifact) if store.has(t, artifact) else None
    return stored.get("id") if stored else None


def _resume_point(store: LocalStore, stage: str, t: int) -> bool:
    """Whether part of ``stage``'s work in iteration t is kept to resume from (shards, training checkpoints)."""
    if stage in (SAMPLE, VERIFY):
        return store.has_shard(t, OUTPUTS[stage], 0)
    if stage == TRAIN:
        return any((store.iteration_dir(t) / layout.CHECKPOINTS).glob("checkpoint-*"))
    return False


def _parse(path: str) -> tuple[int, str]:
    folder, _, file = path.partition("/")
    name = next(name for name, f in layout.ARTIFACTS.items() if f == file)
    return layout.iteration_of(folder) or 0, name


def _plain(value: Any) -> Any:
    """A value as JSON keeps it (tuples as lists), so a stored value compares equal to the same value now."""
    return list(value) if isinstance(value, tuple) else value


def _text(value: Any) -> str:
    """A value as YAML reads it back inside a double-quoted shell word (``0.1``, ``true``, ``null``, ``'dpo'``)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(map(_text, value)) + "]"
    return json.dumps(value)
