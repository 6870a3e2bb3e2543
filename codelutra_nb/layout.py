"""Where every artifact of a run lives: one layout for the local store and the Hub.

Paths are relative (POSIX): locally below the store's root folder, on the Hub
below the dataset repo's root, so ``iter-2/samples.shards/00003.jsonl`` is the
same file in both. The adapter lives on branch ``iter-<t>`` of the model repo; the best iteration's adapter also
on branch ``best`` (`BEST_BRANCH`), and `BEST` at the store's root names the best iteration.
"""

from __future__ import annotations

import re

from .errors import StoreError

ARTIFACTS: dict[str, str] = {
    "samples": "samples.jsonl",
    "verdicts": "verdicts.jsonl",
    "preferences": "preferences",
    "adapter": "adapter",
    "evaluation": "eval.jsonl",
    "metrics": "metrics.json",
    "timings": "timings.json",
    "notebooks": "notebooks",
    "provenance": "provenance.json",
}
"""Artifact name -> its file or folder name inside ``iter-<t>/``."""

MODEL_ARTIFACTS = ("adapter",)
"""Artifacts kept in the model repo; every other one goes to the dataset repo."""

SHARDED_ARTIFACTS = ("samples", "verdicts")
"""Artifacts written in checkpoint shards by their stage."""

PAIRING_STATS = "pairing_stats.json"
"""Inside ``preferences``: what the method's pairing rule did (counts per outcome)."""

TRAINING_LOG = "training_log.json"
"""Inside ``adapter``: the Trainer's log history (loss, rewards per step)."""

PREFERENCES_SAVED = "save_to_disk"
"""On the Hub, inside ``preferences``: the local ``save_to_disk`` folder, pulled back byte for byte."""

CHECKPOINTS = "checkpoints"
"""Inside ``iter-<t>/`` locally: the Trainer's checkpoints while training runs."""

LAST_CHECKPOINT = "last-checkpoint"
"""On branch `checkpoint_branch` of the model repo: the newest training checkpoint, pushed at every save."""

CHECKPOINT_MADE_FROM = "codelutra_made_from.json"
"""Inside `LAST_CHECKPOINT` on the Hub: the preferences and training values the checkpoint was made from; a run
resumes it only when its own are the same."""

HUB_CHECKPOINT = "hub-checkpoint"
"""Inside ``iter-<t>/`` locally: a training checkpoint pulled from the Hub to resume from."""

PROGRESS_PLOT = "progress.png"
"""At the store's root: accuracy and error categories across iterations."""

BEST = "best.json"
"""At the store's root: the best iteration so far by held-out accuracy (ties to the earlier one; 0 is the base
model), its accuracy and executable rate, and where its adapter is (none for iteration 0)."""

BEST_BRANCH = "best"
"""Branch of the model repo at the best iteration's adapter commit, moved when a later iteration becomes best; absent
while the base model (iteration 0) is best."""

_ITERATION = re.compile(r"iter-(\d+)")


def check_artifact(artifact: str) -> str:
    """The file or folder name of ``artifact``; `StoreError` for an unknown name."""
    if artifact not in ARTIFACTS:
        raise StoreError(f"Unknown artifact {artifact!r}; known artifacts are {sorted(ARTIFACTS)}.")
    return ARTIFACTS[artifact]


def iteration_dir(iteration: int) -> str:
    """``iter-<t>``: the folder (and on the model repo, the branch) of iteration t."""
    return f"iter-{iteration}"


def iteration_of(name: str) -> int | None:
    """t for ``iter-<t>``, None for any other name."""
    match = _ITERATION.fullmatch(name)
    return int(match.group(1)) if match else None


def artifact_path(iteration: int, artifact: str) -> str:
    """``iter-<t>/<file>``: where an artifact lives below the store root / dataset repo root."""
    return f"{iteration_dir(iteration)}/{check_artifact(artifact)}"


def shard_dir(iteration: int, artifact: str) -> str:
    """``iter-<t>/<artifact>.shards``: the checkpoint shards of a long stage's artifact."""
    check_artifact(artifact)
    return f"{iteration_dir(iteration)}/{artifact}.shards"


def shard_path(iteration: int, artifact: str, index: int) -> str:
    """``iter-<t>/<artifact>.shards/<index:05d>.jsonl``."""
    return f"{shard_dir(iteration, artifact)}/{index:05d}.jsonl"


def shard_index(file_name: str) -> int | None:
    """The index of a shard file name (``00003.jsonl`` -> 3), None for other files."""
    stem, _, suffix = file_name.partition(".")
    return int(stem) if suffix == "jsonl" and stem.isdigit() else None


def legacy_shard_dir(iteration: int, artifact: str) -> str:
    """Where stores written before version 0.2 kept shards locally (``iter-<t>/samples.jsonl.shards``)."""
    return f"{iteration_dir(iteration)}/{check_artifact(artifact)}.shards"


def checkpoint_branch(iteration: int) -> str:
    """Branch of the model repo where the Trainer pushes iteration t's checkpoints (never read as an adapter)."""
    return f"{iteration_dir(iteration)}-checkpoints"


GENERATED_TESTS = "generated_tests.jsonl"
"""Inside ``preferences`` (plum, dstc): the tests the model wrote for each question, and which were kept."""
