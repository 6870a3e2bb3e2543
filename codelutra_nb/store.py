"""Where each iteration's artifacts live: a local folder per iteration.

An artifact is written under a temporary name and moved into place only when
complete, so a crash never leaves a half-written artifact that a rerun would
mistake for a finished stage. Other stores (the Hub) subclass `LocalStore`
and publish in `_publish` / pull in `_pull`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
}


def _check_artifact(artifact: str) -> str:
    if artifact not in ARTIFACTS:
        raise StoreError(f"Unknown artifact {artifact!r}; known artifacts are {sorted(ARTIFACTS)}.")
    return ARTIFACTS[artifact]


class LocalStore:
    """Artifacts in ``root/iter-<t>/<name>``; the default store."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def iteration_dir(self, iteration: int) -> Path:
        return self.root / f"iter-{iteration}"

    def path(self, iteration: int, artifact: str) -> Path:
        """Final local path of an artifact (it may not exist yet)."""
        return self.iteration_dir(iteration) / _check_artifact(artifact)

    def shard_path(self, iteration: int, artifact: str, index: int) -> Path:
        """Path of checkpoint shard ``index`` of a long stage's artifact (``samples``, ``verdicts``)."""
        name = _check_artifact(artifact)
        return self.iteration_dir(iteration) / f"{name}.shards" / f"{index:05d}.jsonl"

    def has(self, iteration: int, artifact: str) -> bool:
        """Whether a complete copy of the artifact exists."""
        return self.path(iteration, artifact).exists()

    def fetch(self, iteration: int, artifact: str) -> Path:
        """Local path of a finished artifact; raises `StoreError` saying which stage makes it."""
        path = self.path(iteration, artifact)
        if not path.exists():
            self._pull(iteration, artifact, path)
        if not path.exists():
            raise StoreError(self._missing(iteration, artifact, path))
        return path

    def _missing(self, iteration: int, artifact: str, path: Path) -> str:
        return (f"Iteration {iteration} has no {artifact!r} (looked for {path}). Run the stage that makes it first, "
                f"e.g. `papermill notebooks/iterate.ipynb out.ipynb -p iteration {iteration}`.")

    def has_shard(self, iteration: int, artifact: str, index: int) -> bool:
        path = self.shard_path(iteration, artifact, index)
        if not path.exists():
            self._pull_shard(iteration, artifact, index, path)
        return path.exists()

    @contextmanager
    def writing(self, iteration: int, artifact: str) -> Iterator[Path]:
        """Yield a temporary path to write the artifact to; it is moved into place on success."""
        final = self.path(iteration, artifact)
        with self._atomic(final, artifact):
            yield final.with_name(final.name + ".partial")
        self._publish(iteration, artifact, final)

    @contextmanager
    def writing_shard(self, iteration: int, artifact: str, index: int) -> Iterator[Path]:
        """Like `writing`, for one checkpoint shard; a rerun skips shards that exist."""
        final = self.shard_path(iteration, artifact, index)
        with self._atomic(final, artifact):
            yield final.with_name(final.name + ".partial")
        self._publish_shard(iteration, artifact, index, final)

    @staticmethod
    @contextmanager
    def _atomic(final: Path, artifact: str) -> Iterator[None]:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".partial")
        _remove(tmp)
        try:
            yield
        except BaseException:
            _remove(tmp)
            raise
        if not tmp.exists():
            raise StoreError(f"Nothing was written to {tmp} for artifact {artifact!r}.")
        _remove(final)
        tmp.replace(final)

    def publish(self, iteration: int, artifact: str) -> None:
        """Publish an artifact folder that was written in place (the executed notebooks)."""
        self._publish(iteration, artifact, self.fetch(iteration, artifact))

    def write_json(self, iteration: int, artifact: str, obj: Any) -> Path:
        with self.writing(iteration, artifact) as tmp:
            tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
        return self.path(iteration, artifact)

    def read_json(self, iteration: int, artifact: str) -> Any:
        return json.loads(self.fetch(iteration, artifact).read_text())

    def iterations_with(self, artifact: str) -> list[int]:
        """Iterations that hold a finished copy of ``artifact``, ascending."""
        name = _check_artifact(artifact)
        found = []
        for d in self.root.glob("iter-*"):
            suffix = d.name.removeprefix("iter-")
            if suffix.isdigit() and (d / name).exists():
                found.append(int(suffix))
        return sorted(found)

    def preflight(self) -> None:
        """Check, before a long stage, that artifacts can be published (nothing to check locally)."""

    def trainer_hub_args(self, iteration: int) -> dict[str, Any]:
        """Trainer arguments that publish training checkpoints as they are saved (none locally)."""
        return {}

    def pull_trainer_checkpoint(self, iteration: int, dest: Path) -> Path | None:
        """A published training checkpoint of iteration t to resume from (local checkpoints are found directly)."""
        return None

    def drop_trainer_checkpoints(self, iteration: int) -> None:
        """Forget published training checkpoints once the adapter is published (nothing to do locally)."""

    def _publish(self, iteration: int, artifact: str, path: Path) -> None:
        """Hook for remote stores: called once an artifact is complete locally."""

    def _pull(self, iteration: int, artifact: str, path: Path) -> None:
        """Hook for remote stores: bring a missing artifact to ``path`` if it exists remotely."""

    def _publish_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        """Hook for remote stores: called once a checkpoint shard is complete locally."""

    def _pull_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        """Hook for remote stores: bring a missing shard to ``path`` if it exists remotely."""


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
