"""Where each iteration's artifacts live: a local folder per iteration (file names in `codelutra_nb.layout`).

An artifact is written under a temporary name and moved into place only when
complete, so a crash never leaves a half-written artifact that a rerun would
mistake for a finished stage. Other stores (the Hub) subclass `LocalStore`
and publish in `_publish` / pull in `_pull`; `open_store` picks the store a
config asks for.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import layout, parallel
from .errors import StoreError
from .jsonl import read_jsonl

if TYPE_CHECKING:
    from .config import LoopConfig


def open_store(cfg: LoopConfig, *, check: bool = True) -> LocalStore:
    """The store ``cfg`` asks for: a `HubStore` when a Hub repo is set, else a `LocalStore` in ``store_dir``.

    With ``check``, `LocalStore.preflight` runs first (Hub token, network, repos), before any long work;
    a chain of stage notebooks checks once and passes ``check=False`` to each stage. In a group of processes
    (`codelutra_nb.parallel`) rank 0 alone writes and pushes: the others get a `LocalStore` of the folder it fills.
    """
    run = cfg.run
    if not parallel.is_main():
        return LocalStore(run.store_dir)
    if run.hub_model_repo or run.hub_dataset_repo:
        from .hub import HubStore

        store: LocalStore = HubStore(
            run.store_dir,
            model_repo=run.hub_model_repo,
            dataset_repo=run.hub_dataset_repo,
            private=run.hub_private,
            allow_public=run.hub_allow_public,
            shards_per_commit=run.hub_shards_per_commit,
            push_minutes=run.hub_push_minutes,
            flush_wait_minutes=run.hub_flush_wait_minutes,
            params=cfg.to_dict(),
            base_model=cfg.model.base_model,
        )
    else:
        store = LocalStore(run.store_dir)
    if check:
        store.preflight()
    return store


class LocalStore:
    """Artifacts in ``root/iter-<t>/<name>``; the default store."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def iteration_dir(self, iteration: int) -> Path:
        return self.root / layout.iteration_dir(iteration)

    def path(self, iteration: int, artifact: str) -> Path:
        """Final local path of an artifact (it may not exist yet)."""
        return self.root / layout.artifact_path(iteration, artifact)

    def shard_path(self, iteration: int, artifact: str, index: int) -> Path:
        """Path of checkpoint shard ``index`` of a long stage's artifact (``samples``, ``verdicts``)."""
        return self.root / layout.shard_path(iteration, artifact, index)

    def join_shards(self, iteration: int, artifact: str, n: int) -> list[dict]:
        """The records of shards ``0 .. n-1``, in order."""
        return [record for index in range(n) for record in read_jsonl(self.shard_path(iteration, artifact, index))]

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
        return (
            f"Iteration {iteration} has no {artifact!r} (looked for {path}). Run the stage that makes it first, "
            f"e.g. `papermill notebooks/iterate.ipynb out.ipynb -p iteration {iteration}`."
        )

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

    def record_time(self, iteration: int, stage: str, seconds: float) -> None:
        """Add a stage's wall time to the iteration's ``timings``."""
        timings = self.read_json(iteration, "timings") if self.has(iteration, "timings") else {}
        self.write_json(iteration, "timings", timings | {stage: round(seconds, 1)})

    def best_path(self) -> Path:
        """The best pointer, `layout.BEST` at the store's root (written by the evaluate stage)."""
        return self.root / layout.BEST

    def read_best(self) -> dict[str, Any] | None:
        """The best pointer (see `codelutra_nb.best.BestRecord`), None before any evaluation wrote it."""
        path = self.best_path()
        return json.loads(path.read_text()) if path.exists() else None

    def write_best(self, record: dict[str, Any]) -> Path:
        """Write the best pointer atomically; remote stores then move their own pointer (`_publish_best`)."""
        final = self.best_path()
        with self._atomic(final, "best"):
            final.with_name(final.name + ".partial").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        self._publish_best(record)
        return final

    def iterations(self) -> list[int]:
        """Iterations with a local folder, ascending."""
        found = (layout.iteration_of(d.name) for d in self.root.glob("iter-*") if d.is_dir())
        return sorted(t for t in found if t is not None)

    def iterations_with(self, artifact: str) -> list[int]:
        """Iterations that hold a finished copy of ``artifact``, ascending."""
        layout.check_artifact(artifact)
        return [t for t in self.iterations() if self.path(t, artifact).exists()]

    def preflight(self) -> None:
        """Check, before a long stage, that artifacts can be published; move shards of an older layout into place."""
        for t in self.iterations():
            for artifact in layout.SHARDED_ARTIFACTS:
                legacy = self.root / layout.legacy_shard_dir(t, artifact)
                if legacy.is_dir():
                    current = self.shard_path(t, artifact, 0).parent
                    if current.exists():
                        raise StoreError(
                            f"{self.iteration_dir(t)} holds shards in both {legacy.name} (before 0.2) "
                            f"and {current.name}; delete one of them."
                        )
                    legacy.rename(current)

    def refresh(self) -> None:
        """Forget what is known of a remote copy (another process wrote the store); nothing locally."""

    def flush(self, wait_minutes: float | None = None) -> list[tuple[int, str]]:
        """Push what waits to be published (remote stores batch small artifacts, and wait out a rate limit up to
        ``wait_minutes``); nothing to do locally."""
        return []

    def replacing(self, iteration: int, artifact: str) -> None:
        """Say that a stage is about to remake ``artifact`` (remote stores note the copy it replaces)."""

    def portable_value(self, value: Any) -> Any:
        """``value`` as this store shows it to other machines (remote stores replace local folders); here as is."""
        return value

    def trainer_callbacks(self, iteration: int, made_from: dict[str, Any] | None = None) -> list:
        """Trainer callbacks that publish training checkpoints as they are saved, each with ``made_from`` (the
        preferences and training values behind it); none locally."""
        return []

    def pull_trainer_checkpoint(
        self, iteration: int, dest: Path, made_from: dict[str, Any] | None = None
    ) -> Path | None:
        """A published training checkpoint of iteration t to resume from, made from ``made_from`` (local checkpoints
        are found directly)."""
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

    def _publish_best(self, record: dict[str, Any]) -> None:
        """Hook for remote stores: called once the best pointer is written locally."""


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
