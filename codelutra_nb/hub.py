"""A store that also keeps every artifact on the Hugging Face Hub, so a run can resume on a fresh machine.

Layout (``<t>`` is the iteration):

- dataset repo (``dataset_repo``): ``iter-<t>/samples.jsonl``, ``iter-<t>/verdicts.jsonl``, ``iter-<t>/metrics.json``,
  any other file artifact as ``iter-<t>/<file>``, folders as ``iter-<t>/<folder>/...`` (``notebooks``), checkpoint
  shards as ``iter-<t>/samples.shards/00003.jsonl``, and the preference pairs twice: ``iter-<t>/preferences/*.parquet``
  (the ``train`` split of config ``iter-<t>``, declared in the card, so ``load_dataset(repo, "iter-2")`` works) and
  ``iter-<t>/preferences/save_to_disk/`` (the local artifact folder as it was written, pulled back byte for byte).
- model repo (``model_repo``): the adapter of iteration t at the root of branch ``iter-<t>`` (so
  ``PeftModel.from_pretrained(base, repo, revision="iter-2")`` works) and the latest adapter also on ``main``, whose
  README is the model card with a metrics table over all iterations. Branch ``best`` (`layout.BEST_BRANCH`) is the
  commit of the best iteration's adapter (``revision="best"``), moved when a later iteration becomes best; there is
  none while the base model is best.

Every artifact is written locally first (atomically, by `LocalStore`) and pushed in one commit once complete, so
the Hub never holds half an artifact; a folder pushed again replaces the earlier copy, except ``notebooks``, which
only grows (one executed notebook per stage, possibly from different machines). A branch ``iter-<t>`` starts at the
repo's first commit (no adapter files), so it holds an adapter only once the adapter's commit has landed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi, constants, get_token
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from . import __version__, layout
from .cards import dataset_card, model_card
from .errors import StoreError
from .layout import ARTIFACTS, MODEL_ARTIFACTS, PREFERENCES_SAVED
from .store import LocalStore

# Folders that grow over several publishes, possibly from different machines (one executed notebook per stage):
# a push adds and updates files but deletes none. Other folders are replaced as a whole (no stale parquet shard).
ADDITIVE_FOLDERS = ("notebooks",)
MAX_PARQUET_SHARD_BYTES = 500 * 1000 * 1000
_NETWORK_ERRORS = (httpx2.TransportError, OfflineModeIsEnabled)
# Files of the model repo that are not part of an adapter.
_REPO_FILES = (".gitattributes", "README.md")


class HubStore(LocalStore):
    """`LocalStore` in ``root`` plus a copy of every artifact on the Hub (see the module docstring for the layout).

    Args:
        root: Local folder, as for `LocalStore`; the working copy and cache of the Hub copy.
        model_repo: ``namespace/name`` of the model repo for adapters; None keeps adapters local.
        dataset_repo: ``namespace/name`` of the dataset repo for the other artifacts; None keeps them local.
        private: Create missing repos as private.
        token: Hub token; None uses huggingface_hub's own (``HF_TOKEN``, or what ``login()`` saved).
        endpoint: Hub URL; None uses ``HF_ENDPOINT`` or https://huggingface.co.
        params: The run's parameters (`LoopConfig.to_dict()`), shown in the model card.
        base_model: The base model (the ``base_model`` parameter), for the model card's ``base_model``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        model_repo: str | None,
        dataset_repo: str | None,
        private: bool = True,
        token: str | None = None,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        base_model: str | None = None,
    ):
        super().__init__(root)
        if not model_repo and not dataset_repo:
            raise StoreError(
                "HubStore needs model_repo or dataset_repo (hub_model_repo / hub_dataset_repo); "
                "without either, use LocalStore."
            )
        for name, repo in (("model_repo", model_repo), ("dataset_repo", dataset_repo)):
            if repo is not None and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", repo):
                raise StoreError(
                    f"{name}={repo!r} is not a Hub repo id: give 'namespace/name', e.g. "
                    f"'your-username/codelutra-{'adapters' if name == 'model_repo' else 'data'}'."
                )
        self.model_repo = model_repo
        self.dataset_repo = dataset_repo
        self.private = private
        self.params = dict(params) if params is not None else None
        self.base_model = base_model or (params or {}).get("base_model")
        self._token = token
        self.api = HfApi(endpoint=endpoint, token=token, library_name="codelutra_nb", library_version=__version__)
        self._shards: dict[tuple[int, str], set[int]] = {}
        self._created: set[tuple[str, str]] = set()

    @property
    def endpoint(self) -> str:
        return self.api.endpoint

    def __repr__(self) -> str:
        return (
            f"HubStore({str(self.root)!r}, model_repo={self.model_repo!r}, dataset_repo={self.dataset_repo!r}, "
            f"endpoint={self.endpoint!r})"
        )

    # -- checks before long stages --------------------------------------------------------------------------------
    def preflight(self, sync: bool = True) -> dict[str, Any]:
        """Fail fast, before hours of sampling, if the Hub cannot take the artifacts; create missing repos.

        Checks that a token is set and valid, that the endpoint answers, that the token may write, and creates the
        repos (private if ``private``). With ``sync``, pushes finished local artifacts that the Hub lacks (e.g. a
        push that failed when the network dropped). Returns the ``whoami`` answer.
        """
        super().preflight()
        token = self._resolved_token()
        if token is None:
            raise StoreError(
                f"No Hugging Face token found, and {self._repos_text()} needs one. Set the HF_TOKEN environment "
                "variable to a token with write access (https://huggingface.co/settings/tokens), or run "
                "`huggingface_hub.login()` (`huggingface_hub.notebook_login()` in a notebook); or unset "
                "hub_model_repo / hub_dataset_repo to keep the artifacts local only."
            )
        if constants.HF_HUB_OFFLINE:
            raise StoreError(
                f"HF_HUB_OFFLINE is set, so {self._repos_text()} cannot be reached. Unset HF_HUB_OFFLINE "
                "(and TRANSFORMERS_OFFLINE), or unset hub_model_repo / hub_dataset_repo to stay local."
            )
        try:
            me = self.api.whoami(token=token)
        except _NETWORK_ERRORS as err:
            raise StoreError(
                f"Cannot reach the Hugging Face Hub at {self.endpoint} ({type(err).__name__}: {err}). The network is "
                "down or HF_ENDPOINT points to the wrong address. Fix it before starting: the stages push every "
                "artifact there, and would otherwise fail only after hours of work."
            ) from err
        except HfHubHTTPError as err:
            if _status(err) == 401:
                raise StoreError(
                    f"The Hugging Face token from {self._token_source()} is invalid or expired (401 from "
                    f"{self.endpoint}). Create a token with write access at https://huggingface.co/settings/tokens "
                    "and set HF_TOKEN, or run `huggingface_hub.login()` (`notebook_login()` in a notebook)."
                ) from err
            raise StoreError(
                f"The Hub at {self.endpoint} answered {_status(err)} to the token check: {err}. "
                "Retry later, or check HF_ENDPOINT."
            ) from err
        for repo_id, repo_type in self._repos():
            if not _can_write(me, repo_id):
                raise StoreError(self._no_write_text(me, repo_id, repo_type))
            with self._hub_errors(f"creating {repo_type} repo {repo_id}", repo_id, repo_type):
                self._created.discard((repo_id, repo_type))
                self._ensure_repo(repo_id, repo_type)
        if sync:
            self.sync()
        return me

    def sync(self) -> list[tuple[int, str]]:
        """Push every finished local artifact and shard that the Hub lacks; returns what was pushed."""
        pushed: list[tuple[int, str]] = []
        for t in self.iterations():
            for artifact in ARTIFACTS:
                if self._repo_for(artifact) is None:
                    continue
                if artifact not in MODEL_ARTIFACTS:
                    for index in self._local_shards(t, artifact):
                        if index not in self._remote_shards(t, artifact):
                            self._publish_shard(t, artifact, index, self.shard_path(t, artifact, index))
                            pushed.append((t, f"{artifact} shard {index}"))
                if super().has(t, artifact) and not self._remote_files(t, artifact)[1]:
                    self._publish(t, artifact, self.path(t, artifact))
                    pushed.append((t, artifact))
        best = self.read_best()  # a branch move that failed is retried once the adapter is up
        if best is not None and self.model_repo:
            t = int(best["iteration"])
            if t == 0 or self._remote_files(t, "adapter")[1]:
                self._publish_best(best)
        return pushed

    # -- LocalStore interface -------------------------------------------------------------------------------------
    def has(self, iteration: int, artifact: str) -> bool:
        """True if the artifact is in the local folder or on the Hub."""
        return super().has(iteration, artifact) or bool(self._remote_files(iteration, artifact)[1])

    def _missing(self, iteration: int, artifact: str, path: Path) -> str:
        return (
            f"Iteration {iteration} has no {artifact!r}: not in {path} and not on the Hub "
            f"({self._where(iteration, artifact)}). Produce it by running iteration {iteration} with the same "
            f"hub_model_repo / hub_dataset_repo, e.g. `papermill notebooks/iterate.ipynb out.ipynb -p iteration "
            f"{iteration}`; if it was pushed elsewhere, check the repo ids and that the token can read them."
        )

    def iterations_with(self, artifact: str) -> list[int]:
        """Iterations with a finished copy of ``artifact`` locally or on the Hub, ascending."""
        return sorted(set(super().iterations_with(artifact)) | set(self._remote_iterations(artifact)))

    # -- training checkpoints (pushed by the Trainer itself) --------------------------------------------------------
    def trainer_hub_args(self, iteration: int) -> dict[str, Any]:
        """Trainer config keywords that push each checkpoint to `layout.checkpoint_branch` as it is saved.

        With ``hub_strategy="checkpoint"`` the Trainer uploads the latest checkpoint (adapter, optimizer, scheduler,
        RNG and trainer state) to ``last-checkpoint/`` of that branch at every save; `pull_trainer_checkpoint` gets it
        back on a fresh machine. Creates the branch (from the repo's first commit) if needed. Empty without a
        model repo.
        """
        if not self.model_repo:
            return {}
        branch = layout.checkpoint_branch(iteration)
        self._ensure_branch(branch)
        return {
            "push_to_hub": True,
            "hub_model_id": self.model_repo,
            "hub_strategy": "checkpoint",
            "hub_revision": branch,
            "hub_private_repo": self.private,
            "hub_always_push": True,
            "hub_token": self._token,
        }

    def pull_trainer_checkpoint(self, iteration: int, dest: str | Path) -> Path | None:
        """Download the last checkpoint the Trainer pushed for iteration t into ``dest``; None if there is none.

        Pass the returned folder as ``trainer.train(resume_from_checkpoint=str(path))``.
        """
        if not self.model_repo:
            return None
        branch = layout.checkpoint_branch(iteration)
        state = "last-checkpoint/trainer_state.json"
        with self._hub_errors(
            f"pulling the last training checkpoint of iteration {iteration}", self.model_repo, "model"
        ):
            try:
                if not self.api.file_exists(self.model_repo, state, revision=branch):
                    return None
                folder = self.api.snapshot_download(
                    self.model_repo, revision=branch, local_dir=str(dest), allow_patterns=["last-checkpoint/*"]
                )
            except (RepositoryNotFoundError, RevisionNotFoundError):
                return None
        return Path(folder) / "last-checkpoint"

    def drop_trainer_checkpoints(self, iteration: int) -> None:
        """Delete `layout.checkpoint_branch` (optimizer states included) once iteration t's adapter is on the Hub."""
        if not self.model_repo or layout.checkpoint_branch(iteration) not in self._branches():
            return
        if not self.has(iteration, "adapter"):
            raise StoreError(
                f"Iteration {iteration}'s training checkpoints are the only way to resume its training "
                "until its adapter is pushed; publish the adapter first."
            )
        with self._hub_errors(f"deleting branch {layout.checkpoint_branch(iteration)}", self.model_repo, "model"):
            self.api.delete_branch(self.model_repo, branch=layout.checkpoint_branch(iteration))

    # -- the best iteration ---------------------------------------------------------------------------------------
    def write_best(self, record: dict[str, Any]) -> Path:
        """The best pointer with ``hub_adapter`` (``namespace/name@iter-<t>``) set; then moves branch ``best``."""
        t = int(record["iteration"])
        hub_adapter = f"{self.model_repo}@{layout.iteration_dir(t)}" if self.model_repo and t > 0 else None
        return super().write_best({**record, "hub_adapter": hub_adapter})

    def _publish_best(self, record: dict[str, Any]) -> None:
        """Point branch `layout.BEST_BRANCH` at the best iteration's adapter commit; delete it for the base model.

        Nothing is committed: the branch is the very commit of branch ``iter-<t>``, so ``revision="best"`` loads the
        same adapter as ``revision="iter-<t>"``. A branch already at that commit is left alone.
        """
        if not self.model_repo:
            return
        t, branch = int(record["iteration"]), layout.BEST_BRANCH
        with (
            self._kept_locally(f"The best pointer (iteration {t})", self.best_path()),
            self._hub_errors(f"moving branch {branch} to iteration {t}", self.model_repo, "model"),
        ):
            self._ensure_repo(self.model_repo, "model")
            heads = {b.name: b.target_commit for b in self.api.list_repo_refs(self.model_repo).branches}
            target = heads.get(layout.iteration_dir(t)) if t > 0 else None
            if t > 0 and (target is None or not self._remote_files(t, "adapter")[1]):
                raise StoreError(
                    f"Iteration {t} is the best so far, but its adapter is not on branch {layout.iteration_dir(t)} "
                    f"of {self.model_repo}, so branch {branch} cannot point at it."
                )
            if heads.get(branch) == target:
                return
            if branch in heads:
                self.api.delete_branch(self.model_repo, branch=branch)
            if target is not None:
                self.api.create_branch(self.model_repo, branch=branch, revision=target)

    # -- hooks ----------------------------------------------------------------------------------------------------
    def _publish(self, iteration: int, artifact: str, path: Path) -> None:
        with self._kept_locally(f"Iteration {iteration}'s {artifact!r}", path):
            self._push(iteration, artifact, path)

    def _push(self, iteration: int, artifact: str, path: Path) -> None:
        if artifact in MODEL_ARTIFACTS:
            if self.model_repo:
                self._push_adapter(iteration, path)
        elif self.dataset_repo:
            self._push_dataset_artifact(iteration, artifact, path)
        if artifact == "metrics" and self.model_repo and self._latest_adapter() is not None:
            self._push_model_card()

    def _pull(self, iteration: int, artifact: str, path: Path) -> None:
        revision, files = self._remote_files(iteration, artifact)
        if not files:
            return
        repo_id, repo_type = self._repo_for(artifact)  # type: ignore[misc]
        with self._hub_errors(f"pulling iteration {iteration}'s {artifact}", repo_id, repo_type):
            downloaded = {
                rel: self.api.hf_hub_download(repo_id, remote, repo_type=repo_type, revision=revision)
                for remote, rel in files.items()
            }
        with self._atomic(path, artifact):
            tmp = path.with_name(path.name + ".partial")
            for rel, source in downloaded.items():
                target = tmp / rel if rel else tmp
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def _publish_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        if not self.dataset_repo or artifact in MODEL_ARTIFACTS:
            return
        remote = layout.shard_path(iteration, artifact, index)
        with self._kept_locally(f"Shard {index} of iteration {iteration}'s {artifact!r}", path):
            self._commit(
                self.dataset_repo,
                "dataset",
                [CommitOperationAdd(remote, str(path))],
                f"{layout.iteration_dir(iteration)}: {artifact} shard {index}",
                what=f"shard {index} of {artifact}",
            )
        self._remote_shards(iteration, artifact).add(index)

    def _pull_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        if not self.dataset_repo or index not in self._remote_shards(iteration, artifact):
            return
        with self._hub_errors(f"pulling shard {index} of {artifact}", self.dataset_repo, "dataset"):
            source = self.api.hf_hub_download(
                self.dataset_repo, layout.shard_path(iteration, artifact, index), repo_type="dataset"
            )
        with self._atomic(path, artifact):
            shutil.copyfile(source, path.with_name(path.name + ".partial"))

    # -- pushing --------------------------------------------------------------------------------------------------
    def _push_dataset_artifact(self, iteration: int, artifact: str, path: Path) -> None:
        assert self.dataset_repo is not None
        prefix = layout.artifact_path(iteration, artifact)
        ops: list[CommitOperationAdd | CommitOperationDelete] = []
        with tempfile.TemporaryDirectory(prefix="codelutra-push-") as scratch:
            if path.is_dir():
                root = f"{prefix}/{PREFERENCES_SAVED}" if artifact == "preferences" else prefix
                ops += [CommitOperationAdd(f"{root}/{rel}", str(file)) for rel, file in _walk(path)]
                if artifact == "preferences":
                    ops += [
                        CommitOperationAdd(f"{prefix}/{file.name}", str(file))
                        for file in _write_parquet(path, Path(scratch))
                    ]
                if artifact not in ADDITIVE_FOLDERS:  # drop files of an earlier push that the new one lacks
                    added = {op.path_in_repo for op in ops}
                    ops += [CommitOperationDelete(p) for p in self._dataset_paths_under(prefix) if p not in added]
            else:
                ops.append(CommitOperationAdd(prefix, str(path)))
            if artifact in ("preferences", "metrics"):
                card = self._dataset_card(extra_preferences=iteration if artifact == "preferences" else None)
                ops.append(CommitOperationAdd("README.md", str(card).encode()))
            self._commit(
                self.dataset_repo, "dataset", ops, f"{layout.iteration_dir(iteration)}: {artifact}", what=artifact
            )

    def _push_adapter(self, iteration: int, path: Path) -> None:
        assert self.model_repo is not None
        branch = layout.iteration_dir(iteration)
        files = {rel: file for rel, file in _walk(path) if rel not in _REPO_FILES}
        if "adapter_config.json" not in files:
            raise StoreError(
                f"{path} has no adapter_config.json, so it is not a PEFT adapter; save it with "
                "`model.save_pretrained(path)` inside `store.writing(t, 'adapter')`."
            )
        self._ensure_branch(branch)
        latest = self._latest_adapter()
        card = model_card(
            self.model_repo,
            base_model=self.base_model or _adapter_base_model(path),
            metrics=self._all_metrics(),
            latest_iteration=iteration,
            params=self.params,
            dataset_repo=self.dataset_repo,
            endpoint=self.endpoint,
        )
        for revision in (branch, "main"):
            if revision == "main" and latest is not None and latest > iteration:
                continue  # main keeps the newest adapter
            stale = [p for p in self._model_files(revision) if p not in files and p not in _REPO_FILES]
            ops: list[CommitOperationAdd | CommitOperationDelete] = [
                *(CommitOperationAdd(rel, str(file)) for rel, file in files.items()),
                *(CommitOperationDelete(p) for p in stale),
                CommitOperationAdd("README.md", str(card).encode()),
            ]
            self._commit(self.model_repo, "model", ops, f"{branch}: adapter", what="adapter", revision=revision)

    def _ensure_branch(self, branch: str) -> None:
        """Create ``branch`` of the model repo at the repo's first commit (no adapter files) if it is missing."""
        assert self.model_repo is not None
        with self._hub_errors(f"creating branch {branch}", self.model_repo, "model"):
            self._ensure_repo(self.model_repo, "model")
            if branch not in self._branches():
                first = self.api.list_repo_commits(self.model_repo)[-1].commit_id
                self.api.create_branch(self.model_repo, branch=branch, revision=first, exist_ok=True)

    def _push_model_card(self) -> None:
        assert self.model_repo is not None
        latest = self._latest_adapter()
        card = model_card(
            self.model_repo,
            base_model=self.base_model,
            metrics=self._all_metrics(),
            latest_iteration=latest if latest is not None else 0,
            params=self.params,
            dataset_repo=self.dataset_repo,
            endpoint=self.endpoint,
        )
        self._commit(
            self.model_repo,
            "model",
            [CommitOperationAdd("README.md", str(card).encode())],
            "Update model card: metrics of every iteration",
            what="model card",
        )

    def _dataset_card(self, extra_preferences: int | None) -> DatasetCard:
        assert self.dataset_repo is not None
        iterations = set(self._remote_iterations("preferences"))
        if extra_preferences is not None:
            iterations.add(extra_preferences)
        return dataset_card(
            self.dataset_repo,
            iterations=sorted(iterations),
            metrics=self._all_metrics(),
            model_repo=self.model_repo,
            endpoint=self.endpoint,
        )

    def _all_metrics(self) -> list[dict[str, Any]]:
        return [self.read_json(t, "metrics") for t in self.iterations_with("metrics")]

    def _commit(
        self, repo_id: str, repo_type: str, ops: list, message: str, *, what: str, revision: str = "main"
    ) -> None:
        with self._hub_errors(f"pushing {what} to {repo_type} repo {repo_id}@{revision}", repo_id, repo_type):
            self._ensure_repo(repo_id, repo_type)
            self.api.create_commit(
                repo_id, operations=ops, commit_message=message, repo_type=repo_type, revision=revision
            )

    def _ensure_repo(self, repo_id: str, repo_type: str) -> None:
        """Create the repo (private if ``private``) once per store, in case `preflight` was not called."""
        if (repo_id, repo_type) not in self._created:
            self.api.create_repo(repo_id, repo_type=repo_type, private=self.private, exist_ok=True)
            self._created.add((repo_id, repo_type))

    # -- what is on the Hub ---------------------------------------------------------------------------------------
    def _repo_for(self, artifact: str) -> tuple[str, str] | None:
        if artifact in MODEL_ARTIFACTS:
            return (self.model_repo, "model") if self.model_repo else None
        return (self.dataset_repo, "dataset") if self.dataset_repo else None

    def _remote_files(self, iteration: int, artifact: str) -> tuple[str, dict[str, str]]:
        """(revision, {path in repo: path relative to the local artifact ("" for a file artifact)})."""
        prefix = layout.artifact_path(iteration, artifact)
        target = self._repo_for(artifact)
        if target is None:
            return "main", {}
        repo_id, repo_type = target
        if artifact in MODEL_ARTIFACTS:
            revision = layout.iteration_dir(iteration)
            files = {p: p for p in self._model_files(revision) if p not in _REPO_FILES}
            return revision, (files if "adapter_config.json" in files else {})
        with self._hub_errors(f"looking for iteration {iteration}'s {artifact}", repo_id, repo_type):
            try:
                sha = self.api.repo_info(repo_id, repo_type=repo_type).sha or "main"
                info = self.api.get_paths_info(repo_id, [prefix], repo_type=repo_type, revision=sha)
            except (RepositoryNotFoundError, RevisionNotFoundError):
                return "main", {}
        if not info:
            return sha, {}
        if isinstance(info[0], RepoFile):
            return sha, {prefix: ""}
        root = f"{prefix}/{PREFERENCES_SAVED}" if artifact == "preferences" else prefix
        return sha, {p: p[len(root) + 1 :] for p in self._list_files(repo_id, repo_type, root, sha)}

    def _list_files(self, repo_id: str, repo_type: str, path: str, revision: str) -> list[str]:
        with self._hub_errors(f"listing {path or 'the files'} of {repo_id}@{revision}", repo_id, repo_type):
            try:
                return [
                    e.path
                    for e in self.api.list_repo_tree(
                        repo_id, path_in_repo=path or None, recursive=True, repo_type=repo_type, revision=revision
                    )
                    if isinstance(e, RepoFile)
                ]
            except (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError):
                return []

    def _dataset_paths_under(self, prefix: str) -> list[str]:
        """Files below the folder ``prefix`` on the dataset repo's main branch ([] if none or if it is a file)."""
        assert self.dataset_repo is not None
        return self._list_files(self.dataset_repo, "dataset", prefix, "main")

    def _model_files(self, revision: str) -> list[str]:
        assert self.model_repo is not None
        return self._list_files(self.model_repo, "model", "", revision)

    def _branches(self) -> list[str]:
        assert self.model_repo is not None
        with self._hub_errors("listing branches", self.model_repo, "model"):
            try:
                return [b.name for b in self.api.list_repo_refs(self.model_repo).branches]
            except RepositoryNotFoundError:
                return []

    def _latest_adapter(self) -> int | None:
        its = self._remote_iterations("adapter")
        return its[-1] if its else None

    def _remote_iterations(self, artifact: str) -> list[int]:
        layout.check_artifact(artifact)
        target = self._repo_for(artifact)
        if target is None:
            return []
        repo_id, repo_type = target
        if artifact in MODEL_ARTIFACTS:
            candidates = sorted(t for b in self._branches() if (t := layout.iteration_of(b)) is not None)
            return [t for t in candidates if self._remote_files(t, artifact)[1]]
        with self._hub_errors(f"listing the iterations of {repo_id}", repo_id, repo_type):
            try:
                top = self.api.list_repo_tree(repo_id, repo_type=repo_type)
                its = sorted(
                    t for e in top if isinstance(e, RepoFolder) and (t := layout.iteration_of(e.path)) is not None
                )
                if not its:
                    return []
                found = self.api.get_paths_info(
                    repo_id, [layout.artifact_path(t, artifact) for t in its], repo_type=repo_type
                )
            except (RepositoryNotFoundError, RevisionNotFoundError):
                return []
        return sorted(layout.iteration_of(e.path.split("/")[0]) for e in found)  # type: ignore[type-var]

    def _remote_shards(self, iteration: int, artifact: str) -> set[int]:
        """Shard indices on the Hub, listed once per (iteration, artifact) and kept up to date by our pushes."""
        key = (iteration, artifact)
        if key not in self._shards:
            folder = layout.shard_dir(iteration, artifact)
            files = self._list_files(self.dataset_repo, "dataset", folder, "main") if self.dataset_repo else []
            self._shards[key] = {i for p in files if (i := layout.shard_index(Path(p).name)) is not None}
        return self._shards[key]

    def _local_shards(self, iteration: int, artifact: str) -> list[int]:
        folder = self.shard_path(iteration, artifact, 0).parent
        return sorted(i for p in folder.glob("*.jsonl") if (i := layout.shard_index(p.name)) is not None)

    # -- messages -------------------------------------------------------------------------------------------------
    def _repos(self) -> list[tuple[str, str]]:
        return [(r, t) for r, t in ((self.model_repo, "model"), (self.dataset_repo, "dataset")) if r]

    def _repos_text(self) -> str:
        return " and ".join(f"the {t} repo {r}" for r, t in self._repos())

    def _where(self, iteration: int, artifact: str) -> str:
        target = self._repo_for(artifact)
        if target is None:
            kind = "model" if artifact in MODEL_ARTIFACTS else "dataset"
            return f"no hub_{kind}_repo is set, so {artifact} is kept locally only"
        if artifact in MODEL_ARTIFACTS:
            return f"model repo {target[0]}, branch {layout.iteration_dir(iteration)}"
        return f"dataset repo {target[0]}, {layout.artifact_path(iteration, artifact)}"

    def _resolved_token(self) -> str | None:
        return self._token or get_token()

    def _token_source(self) -> str:
        if self._token:
            return "the `token` argument"
        if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
            return "the HF_TOKEN environment variable"
        return "huggingface_hub.login() (saved token)"

    def _no_write_text(self, me: Mapping[str, Any], repo_id: str, repo_type: str) -> str:
        role = me.get("auth", {}).get("accessToken", {}).get("role", "unknown")
        return (
            f"The token from {self._token_source()} (user {me.get('name')!r}, role {role!r}) cannot write to "
            f"the {repo_type} repo {repo_id}. Use a token with write access to the namespace "
            f"{repo_id.split('/')[0]!r} (https://huggingface.co/settings/tokens: role 'write', or a fine-grained "
            f"token with 'repo.write' on it) in HF_TOKEN or `huggingface_hub.login()`, or pick a repo under "
            f"your own namespace."
        )

    @staticmethod
    @contextmanager
    def _kept_locally(what: str, path: Path) -> Iterator[None]:
        """Say, on a failed push, that the artifact is safe locally and how it gets pushed later."""
        try:
            yield
        except StoreError as err:
            raise StoreError(
                f"{what} is complete in the local store ({path}) but was not pushed: {err} The next "
                "`store.preflight()` (run before each stage) or `store.sync()` pushes it."
            ) from err

    @contextmanager
    def _hub_errors(self, action: str, repo_id: str, repo_type: str) -> Iterator[None]:
        """Turn Hub and network errors into `StoreError` messages that say what to do."""
        try:
            yield
        except _NETWORK_ERRORS as err:
            raise StoreError(
                f"Cannot reach the Hugging Face Hub at {self.endpoint} while {action} "
                f"({type(err).__name__}: {err}). Check the network, or HF_ENDPOINT if set."
            ) from err
        except HfHubHTTPError as err:
            status = _status(err)
            if status == 401 and "Invalid credentials" in _error_message(err):
                hint = (
                    "The token is invalid or expired: set HF_TOKEN to a valid token or run `huggingface_hub.login()`."
                )
            elif status == 403:
                hint = (
                    f"The token may not write to {repo_id}: use a token with write access to it "
                    "(HF_TOKEN or `huggingface_hub.login()`)."
                )
            elif isinstance(err, RepositoryNotFoundError):
                hint = (
                    f"The {repo_type} repo {repo_id} does not exist or the token cannot see it: run "
                    "`store.preflight()` to create it, and check the repo id and token."
                )
            else:
                hint = "Retry later; if it persists, check the repo on the Hub."
            raise StoreError(f"The Hub refused {action} ({status}): {str(err).splitlines()[0]} {hint}") from err


def _status(err: HfHubHTTPError) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _error_message(err: HfHubHTTPError) -> str:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    return f"{headers.get('X-Error-Message', '')} {err}"


def _can_write(me: Mapping[str, Any], repo_id: str) -> bool:
    """Whether the token described by ``whoami`` may write to ``repo_id`` (True when the answer does not say)."""
    token = me.get("auth", {}).get("accessToken", {})
    role = token.get("role")
    namespace = repo_id.split("/")[0]
    if role == "read":
        return False
    if role == "fineGrained":
        scopes = (token.get("fineGrained") or {}).get("scoped", [])
        for scope in scopes:
            entity = scope.get("entity", {}).get("name")
            if entity in (namespace, repo_id) and "repo.write" in scope.get("permissions", []):
                return True
        return False
    return True


def _walk(folder: Path) -> list[tuple[str, Path]]:
    """(posix path relative to ``folder``, file) for every file below ``folder``, sorted."""
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())


def _write_parquet(saved: Path, out: Path) -> list[Path]:
    """The dataset saved in ``saved`` as ``train-0000i-of-0000n.parquet`` files (another split name for a dict)."""
    from datasets import Dataset, load_from_disk

    loaded = load_from_disk(str(saved))
    splits = {"train": loaded} if isinstance(loaded, Dataset) else dict(loaded)
    files = []
    for split, ds in splits.items():
        shards = max(1, min(len(ds), math.ceil(ds.data.nbytes / MAX_PARQUET_SHARD_BYTES)))
        for i in range(shards):
            file = out / f"{split}-{i:05d}-of-{shards:05d}.parquet"
            ds.shard(shards, i, contiguous=True).to_parquet(str(file))
            files.append(file)
    return files


def _adapter_base_model(path: Path) -> str | None:
    config = path / "adapter_config.json"
    try:
        return json.loads(config.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None
