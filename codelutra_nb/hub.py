"""A store that also keeps every artifact on the Hugging Face Hub, so a run can resume on a fresh machine.

Layout (``<t>`` is the iteration):

- dataset repo (``dataset_repo``): ``iter-<t>/samples.jsonl``, ``iter-<t>/verdicts.jsonl``, ``iter-<t>/metrics.json``,
  any other file artifact as ``iter-<t>/<file>``, folders as ``iter-<t>/<folder>/...`` (``notebooks``), checkpoint
  shards as ``iter-<t>/samples.shards/00003.jsonl`` while their stage runs, and the preference pairs twice:
  ``iter-<t>/preferences/*.parquet`` (the ``train`` split of config ``iter-<t>``, declared in the card, so
  ``load_dataset(repo, "iter-2")`` works) and ``iter-<t>/preferences/save_to_disk/`` (the local artifact folder as it
  was written, pulled back byte for byte).
- model repo (``model_repo``): the adapter of iteration t at the root of branch ``iter-<t>`` (so
  ``PeftModel.from_pretrained(base, repo, revision="iter-2")`` works) and the latest adapter also on ``main``, whose
  README is the model card with a metrics table over all iterations. Branch ``best`` (`layout.BEST_BRANCH`) is the
  commit of the best iteration's adapter (``revision="best"``), moved when a later iteration becomes best; there is
  none while the base model is best.

**Commits.** The Hub takes about 128 commits per repo and hour. Every artifact is written locally first
(atomically, by `LocalStore`); the dataset repo then gets what iteration t holds locally and the Hub lacks, in one
commit: checkpoint shards once ``shards_per_commit`` of them wait or ``push_minutes`` passed, and a stage's finished
artifact together with its shards' removal (the shards were only a resume point) and the small artifacts that wait
for the next commit (`DEFERRED`: timings, executed notebooks, per-question evaluation, provenance records). `flush`
(the chain's last step) and `sync` (in every `preflight`) push whatever still waits, in one commit. A 429 keeps
the work locally and says when the Hub takes commits again; the next commit, `flush` or preflight pushes it. So
the Hub never holds half an artifact; a folder pushed again replaces the earlier copy, except ``notebooks``, which
only grows (one executed notebook per stage, possibly from different machines). `flush` waits out a rate limit up to
``flush_wait_minutes``, then fails naming what is only local and ``python -m codelutra_nb push --store DIR``.

**Versions.** The store keeps the blob of every file it pushed or pulled (`hub_versions.Versions`). A file is pushed
only while the Hub still holds the version it knew (or none); a newer Hub version is pulled (`sync`); a file changed
on both sides is a `VersionConflict` naming both versions. Every commit passes ``parent_commit`` (the head this store
listed or made): a 412 means another writer committed, and the store lists the repo again and looks again. Branch
``best`` follows the merged metrics history. Text is pushed with this machine's folders replaced
(`portable.Portable`); a Trainer's ``training_args.bin`` is never pushed. A branch ``iter-<t>`` starts at the
repo's first commit (no adapter files), so it holds an adapter only once the adapter's commit has landed.

**Requests.** A store lists the dataset repo once (recursively) and the model repo's branches once, and keeps both up
to date with its own commits; `refresh` forgets them (another process pushed). ``whoami`` is asked once per process.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    CommitOperationDelete,
    DatasetCard,
    HfApi,
    ModelCard,
    constants,
    get_token,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from . import __version__, layout
from .best import best_of, best_record
from .cards import KNOWN_BASE_MODELS, dataset_card, hub_base_model_id, model_card
from .errors import StoreError
from .hub_errors import NETWORK_ERRORS, HubConflict, HubRateLimited, describe, hub_errors, status_of
from .hub_versions import Blob, VersionConflict, Versions, change, decide
from .layout import ARTIFACTS, MODEL_ARTIFACTS, PREFERENCES_SAVED, SHARDED_ARTIFACTS
from .portable import Portable
from .progress import say
from .store import LocalStore

# Folders that grow over several publishes, possibly from different machines (one executed notebook per stage):
# a push adds and updates files but deletes none. Other folders are replaced as a whole (no stale parquet shard).
ADDITIVE_FOLDERS = ("notebooks",)
DEFERRED = ("timings", "notebooks", "evaluation", "provenance")
"""Small artifacts that wait for the next commit of their iteration (or `HubStore.flush`) instead of making one."""
STORE_FILE = ".hub-store.json"
"""At a Hub store's root: its repos and the run's parameters, so `HubStore.reopen` (``python -m codelutra_nb push``)
needs only the folder."""
_ATTEMPTS = 3
"""Commits tried when the Hub answers 412 (another writer committed since the listing): each looks again first."""
MAX_PARQUET_SHARD_BYTES = 500 * 1000 * 1000
# Files of the model repo that are not part of an adapter.
_REPO_FILES = (".gitattributes", "README.md")
_CARD = "README.md"
_T = TypeVar("_T")
_DATASETS_CACHE = re.compile(r"cache-[^/]*\.arrow")  # what `Dataset.map` adds to a folder it was loaded from
_WHOAMI: dict[tuple[str, str], dict[str, Any]] = {}  # (endpoint, token) -> whoami answer, asked once per process
_BASE_MODELS_SEEN: set[tuple[str, str]] = set()  # (endpoint, model id) found on the Hub


class HubStore(LocalStore):
    """`LocalStore` in ``root`` plus a copy of every artifact on the Hub (see the module docstring).

    Args:
        root: Local folder, as for `LocalStore`; the working copy and cache of the Hub copy.
        model_repo: ``namespace/name`` of the model repo for adapters; None keeps adapters local.
        dataset_repo: ``namespace/name`` of the dataset repo for the other artifacts; None keeps them local.
        private: Create missing repos as private, and refuse an existing public one (unless ``allow_public``).
        allow_public: Push to an existing public repo although ``private`` is set.
        shards_per_commit: Checkpoint shards pushed together in one commit.
        push_minutes: Push waiting shards at least this often (minutes).
        token: Hub token; None uses huggingface_hub's own (``HF_TOKEN``, or what ``login()`` saved).
        endpoint: Hub URL; None uses ``HF_ENDPOINT`` or https://huggingface.co.
        params: The run's parameters (`LoopConfig.to_dict()`), shown in the model card.
        base_model: The base model (the ``base_model`` parameter), for the model card's ``base_model``.
        flush_wait_minutes: How long `flush` waits out a rate limit before it gives up (minutes).
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)
    """What ``push_minutes`` is measured on (a test may set a fake clock)."""

    def __init__(
        self,
        root: str | Path,
        *,
        model_repo: str | None,
        dataset_repo: str | None,
        private: bool = True,
        allow_public: bool = False,
        shards_per_commit: int = 16,
        push_minutes: float = 10.0,
        token: str | None = None,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        base_model: str | None = None,
        flush_wait_minutes: float = 30.0,
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
        self.allow_public = allow_public
        self.shards_per_commit = shards_per_commit
        self.push_minutes = push_minutes
        self.params = dict(params) if params is not None else None
        self.base_model = base_model or (params or {}).get("base_model")
        self.flush_wait_minutes = flush_wait_minutes
        self.versions = Versions(self.root)
        self._portable = Portable(self.root, params, hub_base_model_id(self.base_model))
        self._token = token
        self.api = HfApi(endpoint=endpoint, token=token, library_name="codelutra_nb", library_version=__version__)
        self._waiting_shards = 0
        self._last_push = self.clock()
        self._blocked_until = 0.0  # time.time() before which a rate-limited repo takes no commit from us
        self.refresh()

    @classmethod
    def reopen(cls, root: str | Path, **overrides: Any) -> HubStore:
        """The Hub store a run used in ``root`` (its repos and parameters, kept in `STORE_FILE` by `save_settings`)."""
        file = Path(root) / STORE_FILE
        if not file.exists():
            raise StoreError(
                f"{root} is not the folder of a Hub store (no {STORE_FILE}): give the store_dir of a run that had "
                "hub_model_repo or hub_dataset_repo set."
            )
        return cls(root, **(json.loads(file.read_text()) | overrides))

    def save_settings(self) -> None:
        """Keep this store's repos and parameters in `STORE_FILE` at its root (never pushed), for `reopen`."""
        names = ("model_repo", "dataset_repo", "private", "allow_public", "shards_per_commit", "push_minutes")
        settings = {name: getattr(self, name) for name in (*names, "flush_wait_minutes", "params", "base_model")}
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / STORE_FILE).write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")

    @property
    def endpoint(self) -> str:
        return self.api.endpoint

    def __repr__(self) -> str:
        return (
            f"HubStore({str(self.root)!r}, model_repo={self.model_repo!r}, dataset_repo={self.dataset_repo!r}, "
            f"endpoint={self.endpoint!r})"
        )

    def refresh(self) -> None:
        """Forget what this store knows of the repos (another process pushed); the next use lists them again."""
        self._listing: dict[str, Blob] | None = None  # dataset repo, main
        self._head: str | None = None  # dataset repo: the commit of main that ``_listing`` shows
        self._refs: dict[str, str] | None = None  # model repo: branch -> head commit
        self._trees: dict[str, dict[str, Blob]] = {}  # model repo: branch -> files
        self._root_commit: str | None = None

    # -- checks before long stages --------------------------------------------------------------------------------
    def preflight(self, sync: bool = True) -> dict[str, Any]:
        """Fail fast, before hours of sampling, if the Hub cannot take the artifacts; create missing repos.

        Checks that a token is set and valid, that the endpoint answers, that the token may write, that
        ``base_model`` is a model on the Hub (it goes into the model card), creates the repos (private if
        ``private``) and refuses an existing public one when ``private`` is set. With ``sync``, pushes what the Hub
        lacks (a push that failed or was rate-limited). Returns the ``whoami`` answer.
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
        me = self._whoami(token)
        for repo_id, repo_type in self._repos():
            if not _can_write(me, repo_id, repo_type):
                raise StoreError(self._no_write_text(me, repo_id, repo_type))
        self._check_base_model()
        for repo_id, repo_type in self._repos():
            self._check_repo(repo_id, repo_type)
        self.save_settings()
        self.refresh()
        if sync:
            try:
                self.sync()
            except HubRateLimited as err:  # the work is kept; the next commit, flush or preflight pushes it
                say(f"⚠ {err}")
        return me

    def _whoami(self, token: str) -> dict[str, Any]:
        key = (self.endpoint, token)
        if key in _WHOAMI:
            return _WHOAMI[key]
        try:
            me = self.api.whoami(token=token)
        except NETWORK_ERRORS as err:
            raise StoreError(
                f"Cannot reach the Hugging Face Hub at {self.endpoint} ({type(err).__name__}: {err}). The network is "
                "down or HF_ENDPOINT points to the wrong address. Fix it before starting: the stages push every "
                "artifact there, and would otherwise fail only after hours of work."
            ) from err
        except HfHubHTTPError as err:
            if status_of(err) == 401:
                raise StoreError(
                    f"The Hugging Face token from {self._token_source()} is invalid or expired (401 from "
                    f"{self.endpoint}). Create a token with write access at https://huggingface.co/settings/tokens "
                    "and set HF_TOKEN, or run `huggingface_hub.login()` (`notebook_login()` in a notebook)."
                ) from err
            repo_id, repo_type = self._repos()[0]
            raise StoreError(describe(err, "the token check (whoami)", repo_id, repo_type)) from err
        _WHOAMI[key] = me
        return me

    def _check_base_model(self) -> None:
        """`StoreError` if ``base_model`` looks like a Hub id that the Hub does not know (the card would name it)."""
        model_id = hub_base_model_id(self.base_model)
        if not self.model_repo or model_id is None or model_id in KNOWN_BASE_MODELS.values():
            return
        if (self.endpoint, model_id) in _BASE_MODELS_SEEN:
            return
        with hub_errors(f"looking up base_model {model_id}", model_id, "model", self.endpoint):
            try:
                self.api.model_info(model_id)
            except RepositoryNotFoundError as err:
                raise StoreError(
                    f"base_model={self.base_model!r} is not a model on the Hub at {self.endpoint} "
                    f"({status_of(err)}), or the token cannot see it. Fix the spelling (namespace/name, e.g. "
                    "'Qwen/Qwen2.5-Coder-7B-Instruct'), or give a local folder; the model card names this model."
                ) from err
        _BASE_MODELS_SEEN.add((self.endpoint, model_id))

    def _check_repo(self, repo_id: str, repo_type: str) -> None:
        """Create a missing repo (private if ``private``); refuse an existing public one when ``private`` is set."""
        with hub_errors(f"checking {repo_type} repo {repo_id}", repo_id, repo_type, self.endpoint):
            try:
                info = self.api.repo_info(repo_id, repo_type=repo_type)
            except RepositoryNotFoundError:
                self.api.create_repo(repo_id, repo_type=repo_type, private=self.private, exist_ok=True)
                return
        if self.private and not info.private and not self.allow_public:
            raise StoreError(
                f"The {repo_type} repo {repo_id} exists and is public, but hub_private is true: the run's artifacts "
                f"would be readable by anyone. Make it private (`HfApi().update_repo_settings({repo_id!r}, "
                f"private=True, repo_type={repo_type!r})`, or its Settings page on the Hub), pick another repo, or set "
                "hub_allow_public: true to publish there on purpose."
            )

    def sync(self, *, strict: bool = False) -> list[tuple[int, str]]:
        """Bring this store and the Hub level, by versions (see the module docstring): pull what the Hub holds newer,
        push what changed here (one dataset commit), the two newest adapters likewise, and point branch ``best`` at
        the best iteration of the merged metrics. Returns what it pushed; ``strict``: a rate limit raises
        `HubRateLimited` instead of keeping the work for later."""
        pushed: list[tuple[int, str]] = []
        if self.dataset_repo:
            iterations = self.iterations()
            what = f"Every artifact of iteration(s) {', '.join(map(str, iterations))} that the Hub lacks"
            with self._kept_locally(what, self.root):
                done, newer = self._push_iterations(iterations, force=True, strict=strict)
            pushed += done
            for t, artifact in newer:
                self._pull_newer(t, artifact)
        if self.model_repo:
            local = [t for t in self.iterations() if self.path(t, "adapter").exists()]
            for t in local[-2:]:  # earlier adapters were synced by the preflights of the iterations after them
                decision = self._adapter_state(t, self.path(t, "adapter"))[0]
                if decision == "push":
                    self._publish(t, "adapter", self.path(t, "adapter"))
                    pushed.append((t, "adapter"))
                elif decision == "pull":
                    self._pull_newer(t, "adapter")
            self._publish_merged_best()
        return pushed

    def flush(self, wait_minutes: float | None = None) -> list[tuple[int, str]]:
        """Push everything still waiting (shards, `DEFERRED` artifacts) now; the chain's last step.

        A rate limit is waited out, counting down, up to ``wait_minutes`` (default ``flush_wait_minutes``); past that
        a `StoreError` names what is only in the local folder and the command that pushes it.
        """
        limit = self.flush_wait_minutes if wait_minutes is None else wait_minutes
        deadline = time.time() + 60 * limit
        while True:
            self.refresh()
            try:
                return self.sync(strict=True)
            except HubRateLimited as err:
                retry_at = err.retry_at or time.time() + 60
                if retry_at > deadline:
                    raise StoreError(self._only_local_text(err, limit)) from err
                _count_down(retry_at, "the Hub's rate limit: pushing again in")

    def pending(self) -> list[tuple[int, str]]:
        """What this store holds that the Hub lacks or holds older (nothing is pushed)."""
        found: list[tuple[int, str]] = []
        with tempfile.TemporaryDirectory(prefix="codelutra-pending-") as scratch:
            for t in self.iterations() if self.dataset_repo else []:
                found += [(t, w) for w in self._iteration_ops(t, Path(scratch))[1]]
        for t in self.iterations() if self.model_repo else []:
            if self.path(t, "adapter").exists() and self._adapter_state(t, self.path(t, "adapter"))[0] == "push":
                found.append((t, "adapter"))
        return found

    def _only_local_text(self, err: HubRateLimited, waited_minutes: float) -> str:
        missing = self._what(sorted(self.pending()), start=True)
        return (
            f"{missing}: only in {self.root.absolute()}, not on the Hub, which still refuses commits after the "
            f"{waited_minutes:g} minutes this run may wait ({err}). A session that ends now loses them. Push them "
            f"with: python -m codelutra_nb push --store {self.root.absolute()}"
        )

    def _pull_newer(self, t: int, artifact: str) -> None:
        """Replace the local copy by the Hub's newer one (another machine pushed it after this store last looked)."""
        self._pull(t, artifact, self.path(t, artifact))
        say(f"↓ Iteration {t}'s {artifact}: the Hub holds a newer version, pushed from elsewhere; pulled it.")

    def _publish_merged_best(self) -> None:
        """Point the best pointer and branch ``best`` at the best iteration of every metrics.json, here or on the
        Hub (a branch move that failed is retried once the adapter is up)."""
        best = best_of(self._all_metrics())
        if best is None:
            return
        record = dict(best_record(best))
        t = int(record["iteration"])
        if t == 0 or self._remote_files(t, "adapter")[1]:
            self.write_best(record)

    # -- LocalStore interface -------------------------------------------------------------------------------------
    def has(self, iteration: int, artifact: str) -> bool:
        """True if the artifact is in the local folder or on the Hub."""
        return super().has(iteration, artifact) or bool(self._remote_files(iteration, artifact)[1])

    def replacing(self, iteration: int, artifact: str) -> None:
        """Take the Hub's copy of ``artifact``, if any, as the version this run's new one replaces (a stage redone with
        ``force`` on a machine that never pulled it); what another writer pushes from now on is a conflict."""
        key, blobs = self._remote_blobs(iteration, artifact)
        unknown = {p: blob for p, blob in blobs.items() if self.versions.known(key, p) is None}
        if unknown:
            self.versions.update(key, unknown)

    def portable_value(self, value: Any) -> Any:
        """``value`` with this machine's folders replaced as in every pushed file (`portable.Portable`)."""
        return self._portable.value(value)

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

    # -- training checkpoints ---------------------------------------------------------------------------------------
    def trainer_callbacks(self, iteration: int, made_from: dict[str, Any] | None = None) -> list:
        """A `CheckpointPusher` that pushes each checkpoint to `layout.checkpoint_branch` as it is saved.

        Every save puts the checkpoint (adapter, optimizer, scheduler, RNG and trainer state, its files made portable,
        ``made_from`` beside them) in `layout.LAST_CHECKPOINT` of that branch, in one commit on top of the branch's
        head; `pull_trainer_checkpoint` gets it back on a fresh machine. Creates the branch (from the repo's first
        commit) if needed. Empty without a model repo.
        """
        from .checkpoint_push import CheckpointPusher

        if not self.model_repo:
            return []
        repo, branch = self.model_repo, layout.checkpoint_branch(iteration)
        self._ensure_branch(branch)
        action = f"pushing a training checkpoint to {repo}@{branch}"
        return [
            CheckpointPusher(
                self.api,
                repo,
                branch,
                describe=lambda err: describe(err, action, repo, "model"),
                stage=lambda folder, out: self._stage_checkpoint(folder, out, made_from),
                parent=self._branches()[branch],
            )
        ]

    def _stage_checkpoint(self, folder: Path, out: Path, made_from: dict[str, Any] | None) -> None:
        """Write into ``out`` what goes to the Hub of the checkpoint ``folder``: its files made portable, and
        ``made_from`` as `layout.CHECKPOINT_MADE_FROM`."""
        out.mkdir(parents=True, exist_ok=True)
        for rel, file in _walk(folder):
            data = self._portable.file(file)
            if data is not None:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data)
        if made_from is not None:
            (out / layout.CHECKPOINT_MADE_FROM).write_text(json.dumps(self.portable_value(made_from), indent=1))

    def pull_trainer_checkpoint(
        self, iteration: int, dest: str | Path, made_from: dict[str, Any] | None = None
    ) -> Path | None:
        """Download the last checkpoint pushed for iteration t into ``dest``; None if there is none, or (said) if it
        was made from other preferences or training values than ``made_from`` (then training starts afresh).

        Pass the returned folder as ``trainer.train(resume_from_checkpoint=str(path))``.
        """
        if not self.model_repo:
            return None
        branch = layout.checkpoint_branch(iteration)
        if branch not in self._branches():
            return None
        state = f"{layout.LAST_CHECKPOINT}/trainer_state.json"
        with self._errors(f"pulling the last training checkpoint of iteration {iteration}", self.model_repo, "model"):
            try:
                if not self.api.file_exists(self.model_repo, state, revision=branch):
                    return None
                folder = self.api.snapshot_download(
                    self.model_repo,
                    revision=branch,
                    local_dir=str(dest),
                    allow_patterns=[f"{layout.LAST_CHECKPOINT}/*"],
                )
            except (RepositoryNotFoundError, RevisionNotFoundError):
                return None
        checkpoint = Path(folder) / layout.LAST_CHECKPOINT
        if made_from is None:
            return checkpoint
        record = checkpoint / layout.CHECKPOINT_MADE_FROM
        stored = self.portable_value(json.loads(record.read_text())) if record.exists() else None
        now = self.portable_value(made_from)
        if stored == now:
            return checkpoint
        shutil.rmtree(dest, ignore_errors=True)
        why = _making_differences(stored, now)
        say(
            f"⚠ The training checkpoint of iteration {iteration} on {self.model_repo}@{branch} was made from "
            f"{why}, so training starts from the beginning instead of resuming it."
        )
        return None

    def drop_trainer_checkpoints(self, iteration: int) -> None:
        """Delete `layout.checkpoint_branch` (optimizer states included) once iteration t's adapter is on the Hub."""
        branch = layout.checkpoint_branch(iteration)
        if not self.model_repo or branch not in self._branches():
            return
        if not self.has(iteration, "adapter"):
            raise StoreError(
                f"Iteration {iteration}'s training checkpoints are the only way to resume its training "
                "until its adapter is pushed; publish the adapter first."
            )
        with self._errors(f"deleting branch {branch}", self.model_repo, "model"):
            self.api.delete_branch(self.model_repo, branch=branch)
        self._branches().pop(branch, None)

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
            self._errors(f"moving branch {branch} to iteration {t}", self.model_repo, "model"),
        ):
            heads = self._branches()
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
                del heads[branch]
            if target is not None:
                self.api.create_branch(self.model_repo, branch=branch, revision=target)
                heads[branch] = target

    # -- hooks ----------------------------------------------------------------------------------------------------
    def _publish(self, iteration: int, artifact: str, path: Path) -> None:
        if artifact in MODEL_ARTIFACTS:
            if self.model_repo:
                with self._kept_locally(f"Iteration {iteration}'s {artifact!r}", path):
                    self._push_adapter(iteration, path)
        elif self.dataset_repo and artifact not in DEFERRED:
            with self._kept_locally(f"Iteration {iteration}'s {artifact!r}", path):
                self._push_iterations([iteration])
        if artifact == "metrics" and self.model_repo and self._latest_adapter() is not None:
            with self._kept_locally("The model card", path):
                self._push_model_card()

    def _pull(self, iteration: int, artifact: str, path: Path) -> None:
        revision, files = self._remote_files(iteration, artifact)
        if not files:
            return
        repo_id, repo_type = self._repo_for(artifact)  # type: ignore[misc]
        with self._errors(f"pulling iteration {iteration}'s {artifact}", repo_id, repo_type):
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
        self.versions.update(*self._remote_blobs(iteration, artifact))

    def _publish_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        """Count the shard; push the waiting ones once `shards_per_commit` wait or `push_minutes` passed."""
        if not self.dataset_repo or artifact in MODEL_ARTIFACTS:
            return
        self._waiting_shards += 1
        due = self._waiting_shards >= self.shards_per_commit or self.clock() - self._last_push >= (
            self.push_minutes * 60
        )
        if due:
            with self._kept_locally(f"Shard {index} of iteration {iteration}'s {artifact!r}", path):
                self._push_iterations([iteration])

    def _pull_shard(self, iteration: int, artifact: str, index: int, path: Path) -> None:
        remote = layout.shard_path(iteration, artifact, index)
        if not self.dataset_repo or remote not in self._dataset_files():
            return
        with self._errors(f"pulling shard {index} of {artifact}", self.dataset_repo, "dataset"):
            source = self.api.hf_hub_download(self.dataset_repo, remote, repo_type="dataset")
        with self._atomic(path, artifact):
            shutil.copyfile(source, path.with_name(path.name + ".partial"))
        self.versions.update("dataset", {remote: self._dataset_files()[remote]})

    # -- pushing the dataset repo ---------------------------------------------------------------------------------
    def _push_iterations(
        self, iterations: Iterable[int], *, force: bool = False, strict: bool = False
    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """One commit of what these iterations changed here since this store last pushed or pulled it (the Hub still
        holding that version); returns (what it pushed, what the Hub holds newer: to pull). Pushes nothing while a
        rate limit holds (``force`` tries even then; ``strict`` raises its `HubRateLimited`). A 412 (another writer
        committed meanwhile) lists the repo again and looks again; an artifact changed on both sides is a
        `VersionConflict`. An artifact that fails to prepare is left out, and named (`StoreError`) once the others
        are pushed."""
        iterations = list(iterations)
        pushed, pulls, errors = self._looking_again(lambda: self._push_iterations_once(iterations, force, strict))
        if errors:
            rest = " The rest was pushed." if pushed else ""
            raise StoreError("Not pushed, as it could not be prepared: " + "; ".join(errors) + "." + rest)
        return pushed, pulls

    def _push_iterations_once(
        self, iterations: list[int], force: bool, strict: bool
    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[str]]:
        """`_push_iterations` against what this store knows of the repo now: (pushed, to pull, failed to prepare)."""
        with tempfile.TemporaryDirectory(prefix="codelutra-push-") as scratch:
            ops, labels, pulls, errors = [], [], [], []
            for t in iterations:
                more, what, newer, failed = self._iteration_ops(t, Path(scratch))
                ops += more
                labels += [(t, w) for w in what]
                pulls += [(t, a) for a in newer]
                errors += failed
            done = self._commit_dataset(ops, labels, force=force, strict=strict)
        return (labels if done else []), pulls, errors

    def _looking_again(self, push: Callable[[], _T]) -> _T:
        """``push()``; after a 412 (another writer committed since this store listed the repo) list again and retry,
        `_ATTEMPTS` times in all."""
        for _ in range(_ATTEMPTS - 1):
            try:
                return push()
            except HubConflict:
                self.refresh()
        return push()

    def _iteration_ops(self, t: int, scratch: Path) -> tuple[list, list[str], list[str], list[str]]:
        """The operations that push iteration t's local changes, what they push, the artifacts the Hub holds newer,
        and the artifacts that failed to prepare (each with its error)."""
        files = self._dataset_files()
        ops: list[CommitOperationAdd | CommitOperationDelete] = []
        what: list[str] = []
        newer: list[str] = []
        errors: list[str] = []
        for artifact in ARTIFACTS:
            if artifact in MODEL_ARTIFACTS:
                continue
            path = self.path(t, artifact)
            if path.exists():
                try:
                    decision, artifact_ops = self._artifact_ops(t, artifact, path, files, scratch)
                except VersionConflict:
                    raise
                except Exception as err:  # one artifact that cannot be prepared does not hold back the others
                    errors.append(f"iteration {t}'s {artifact!r} ({path}): {type(err).__name__}: {err}")
                    continue
                if decision == "push":
                    ops += artifact_ops
                    what.append(artifact)
                elif decision == "pull":
                    newer.append(artifact)
            if artifact in SHARDED_ARTIFACTS:
                remote = {p for p in files if p.startswith(layout.shard_dir(t, artifact) + "/")}
                if path.exists():  # the shards were a resume point; the finished artifact replaces them
                    ops += [CommitOperationDelete(p) for p in sorted(remote)]
                    continue
                if self._remote_files(t, artifact)[1]:
                    continue  # another machine finished the stage: the shards here are stale
                waiting = self._changed_shards(t, artifact, files)
                ops += [CommitOperationAdd(p, data) for p, data in waiting]
                if waiting:
                    what.append(f"{len(waiting)} {artifact} shard{'s' if len(waiting) > 1 else ''}")
        if {"preferences", "metrics"} & set(what):
            card = self._portable.text(str(self._dataset_card(ops))).encode()
            if not _same(files.get(_CARD), card):
                ops.append(CommitOperationAdd(_CARD, card))
        return ops, what, newer, errors

    def _changed_shards(self, t: int, artifact: str, files: Mapping[str, Blob]) -> list[tuple[str, bytes]]:
        """(path in repo, bytes) of the local shards changed here only; `VersionConflict` for one changed on both."""
        found, conflicts = [], []
        for index in self._local_shards(t, artifact):
            remote_path = layout.shard_path(t, artifact, index)
            data = self._portable.file(self.shard_path(t, artifact, index))
            assert data is not None
            remote, known = files.get(remote_path), self.versions.known("dataset", remote_path)
            how = change(data, remote, known)
            if how == "ours":
                found.append((remote_path, data))
            elif how == "both":
                conflicts.append((remote_path, data, remote))
        if conflicts:
            raise VersionConflict(f"Iteration {t}'s {artifact} shards", conflicts, self.root)
        return found

    def _artifact_ops(
        self, t: int, artifact: str, path: Path, files: Mapping[str, Blob], scratch: Path
    ) -> tuple[str, list[CommitOperationAdd | CommitOperationDelete]]:
        """("same" | "push" | "pull", the operations that push the artifact); `VersionConflict` when both this store
        and the Hub changed it since this store last pushed or pulled it. Files go as `Portable` makes them."""
        prefix = layout.artifact_path(t, artifact)
        root = f"{prefix}/{PREFERENCES_SAVED}" if artifact == "preferences" else prefix
        if path.is_dir():
            local = {f"{root}/{rel}": file for rel, file in _walk(path) if not _DATASETS_CACHE.fullmatch(rel)}
            remote = {p: b for p, b in files.items() if p.startswith(root + "/")}
            known = self.versions.under("dataset", root)
        else:
            local, remote = {prefix: path}, ({prefix: files[prefix]} if prefix in files else {})
            known = {prefix: k} if (k := self.versions.known("dataset", prefix)) is not None else {}
        data = {p: d for p, file in local.items() if (d := self._portable.file(file)) is not None}
        where = f"Iteration {t}'s {artifact} ({prefix})"
        decision, changes = self._three_way(where, "dataset", local, data, remote, known, artifact in ADDITIVE_FOLDERS)
        if decision != "push":
            return decision, []
        ops: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(p, data[p]) for p, c in changes.items() if c == "ours" and p in data
        ]
        ops += [CommitOperationDelete(p) for p, c in changes.items() if c == "ours" and p not in data and p in remote]
        if artifact == "preferences":
            out = scratch / layout.iteration_dir(t)
            out.mkdir(parents=True, exist_ok=True)
            parquet = {f"{prefix}/{file.name}": file for file in _write_parquet(path, out)}
            ops += [CommitOperationAdd(p, str(file)) for p, file in parquet.items()]
            ops += [
                CommitOperationDelete(p)
                for p in files
                if p.startswith(prefix + "/") and not p.startswith(root + "/") and p not in parquet
            ]
        return "push", ops

    def _three_way(
        self,
        where: str,
        key: str,
        local: Mapping[str, Path],
        data: Mapping[str, bytes],
        remote: Mapping[str, Blob],
        known: Mapping[str, Blob],
        additive: bool = False,
    ) -> tuple[str, dict[str, str]]:
        """What to do with one artifact, from its local files (``data``: as pushed), the Hub's and the versions this
        store knows (`hub_versions.change` per file): ("same" | "push" | "pull", the change of each file).
        `VersionConflict` when both sides changed it; files found the same are recorded as known. ``additive``
        (logs of several machines): the Hub's changes are kept, only ours are pushed."""
        changes: dict[str, str] = {}
        for p in sorted(data.keys() | remote.keys() | known.keys()):
            k = known.get(p)
            if k is None and p in remote and p in local and remote[p].same(local[p].read_bytes()):
                k = remote[p]  # pushed by this store before it kept versions or made paths portable
            changes[p] = change(data.get(p), remote.get(p), k)
            if additive and changes[p] != "same":
                changes[p] = "ours" if p in data else "same"
        decision = decide(changes.values())  # type: ignore[arg-type]
        if decision == "conflict":
            both = [(p, data.get(p), remote.get(p)) for p, c in changes.items() if c != "same"]
            raise VersionConflict(where, both, self.root)
        seen = {p: remote[p] for p, c in changes.items() if c == "same" and p in remote and p not in known}
        if seen:
            self.versions.update(key, seen)
        return decision, changes

    def _commit_dataset(
        self, ops: list, labels: list[tuple[int, str]], *, force: bool = False, strict: bool = False
    ) -> bool:
        """Commit ``ops`` to the dataset repo; on a 429 keep them locally, say when they go, and return False
        (``strict``: raise the `HubRateLimited`)."""
        assert self.dataset_repo is not None
        if not ops:
            return True
        if time.time() < self._blocked_until and not (force or strict):
            return False
        try:
            self._commit(self.dataset_repo, "dataset", ops, _message(labels), what=self._what(labels))
        except HubRateLimited as err:
            self._blocked_until = err.retry_at or time.time() + 60
            if strict:
                raise
            at = time.strftime("%H:%M:%S", time.localtime(self._blocked_until))
            say(
                f"⚠ {self._what(labels, start=True)} kept in {self.root}, not pushed yet: {err} It goes with the "
                f"next commit after {at}, `store.flush()`, or the next preflight."
            )
            return False
        self._waiting_shards, self._last_push = 0, self.clock()
        return True

    def _dataset_card(self, ops: list) -> DatasetCard:
        assert self.dataset_repo is not None
        paths = set(self._dataset_files()) | {op.path_in_repo for op in ops if isinstance(op, CommitOperationAdd)}
        deleted = {op.path_in_repo for op in ops if isinstance(op, CommitOperationDelete)}
        iterations = {
            t
            for p in paths - deleted
            if p.endswith(".parquet") and (t := layout.iteration_of(p.split("/")[0])) is not None
        }
        return dataset_card(
            self.dataset_repo,
            iterations=sorted(iterations),
            metrics=self._all_metrics(),
            model_repo=self.model_repo,
            endpoint=self.endpoint,
        )

    # -- pushing the model repo -----------------------------------------------------------------------------------
    def _push_adapter(self, iteration: int, path: Path) -> None:
        """Push the adapter to branch ``iter-<t>`` (and ``main`` while it is the newest) unless the Hub holds it or a
        newer one (`VersionConflict` when both sides changed it); a 412 looks again."""
        if not (path / "adapter_config.json").exists():
            raise StoreError(
                f"{path} has no adapter_config.json, so it is not a PEFT adapter; save it with "
                "`model.save_pretrained(path)` inside `store.writing(t, 'adapter')`."
            )
        self._looking_again(lambda: self._push_adapter_once(iteration, path))

    def _push_adapter_once(self, iteration: int, path: Path) -> None:
        assert self.model_repo is not None
        decision, data = self._adapter_state(iteration, path)
        if decision != "push":
            return
        branch = layout.iteration_dir(iteration)
        self._ensure_branch(branch)
        latest = self._latest_adapter()
        card = self._model_card(iteration, base_model=self.base_model or _adapter_base_model(path))
        for revision in (branch, "main"):
            if revision == "main" and latest is not None and latest > iteration:
                continue  # main keeps the newest adapter
            stale = [p for p in self._model_files(revision) if p not in data and p not in _REPO_FILES]
            ops: list[CommitOperationAdd | CommitOperationDelete] = [
                *(CommitOperationAdd(rel, content) for rel, content in data.items()),
                *(CommitOperationDelete(p) for p in stale),
                CommitOperationAdd(_CARD, self._portable.text(str(card)).encode()),
            ]
            self._commit(self.model_repo, "model", ops, f"{branch}: adapter", what="adapter", revision=revision)

    def _adapter_state(self, iteration: int, path: Path) -> tuple[str, dict[str, bytes]]:
        """("same" | "push" | "pull", the adapter's files as pushed) for the local adapter of iteration t against
        branch ``iter-<t>``; `VersionConflict` when both sides changed it."""
        local = {rel: file for rel, file in _walk(path) if rel not in _REPO_FILES}
        data = {rel: d for rel, file in local.items() if (d := self._portable.file(file)) is not None}
        key, remote = self._remote_blobs(iteration, "adapter")
        where = f"Iteration {iteration}'s adapter (branch {layout.iteration_dir(iteration)} of {self.model_repo})"
        decision = self._three_way(where, key, local, data, remote, self.versions.under(key))[0]
        return decision, data

    def _ensure_branch(self, branch: str) -> None:
        """Create ``branch`` of the model repo at the repo's first commit (no adapter files) if it is missing."""
        assert self.model_repo is not None
        heads = self._branches()
        if branch in heads:
            return
        with self._errors(f"creating branch {branch}", self.model_repo, "model"):
            if self._root_commit is None:
                repo = self.model_repo
                commits = self._creating_repo(repo, "model", lambda: self.api.list_repo_commits(repo))
                self._root_commit = commits[-1].commit_id
            self.api.create_branch(self.model_repo, branch=branch, revision=self._root_commit, exist_ok=True)
        heads[branch] = self._root_commit
        self._trees.pop(branch, None)  # listed when first needed: the branch may have existed already

    def _push_model_card(self) -> None:
        assert self.model_repo is not None
        latest = self._latest_adapter()
        model_card = self._model_card(latest if latest is not None else 0, base_model=self.base_model)
        card = self._portable.text(str(model_card)).encode()
        if _same(self._model_tree("main").get(_CARD), card):
            return
        self._commit(
            self.model_repo,
            "model",
            [CommitOperationAdd(_CARD, card)],
            "Update model card: metrics of every iteration",
            what="model card",
        )

    def _model_card(self, latest_iteration: int, *, base_model: str | None) -> ModelCard:
        assert self.model_repo is not None
        return model_card(
            self.model_repo,
            base_model=base_model,
            metrics=self._all_metrics(),
            latest_iteration=latest_iteration,
            params=self.params,
            dataset_repo=self.dataset_repo,
            endpoint=self.endpoint,
        )

    def _all_metrics(self) -> list[dict[str, Any]]:
        return [self.read_json(t, "metrics") for t in self.iterations_with("metrics")]

    def _commit(
        self, repo_id: str, repo_type: str, ops: list, message: str, *, what: str, revision: str = "main"
    ) -> CommitInfo:
        """One commit on top of the head this store knows (``parent_commit``: a 412 `HubConflict` if another writer
        committed since); any other failure (HTTP, network, upload, a card the Hub rejects) is a `StoreError` naming
        ``what``. Records the versions it pushed."""
        action = f"pushing {what} to {repo_type} repo {repo_id}@{revision}"
        parent = self._branches().get(revision) if repo_type == "model" else self._head
        with self._errors(action, repo_id, repo_type, any_error=True):
            info = self._creating_repo(
                repo_id,
                repo_type,
                lambda: self.api.create_commit(
                    repo_id,
                    operations=ops,
                    commit_message=message,
                    repo_type=repo_type,
                    revision=revision,
                    parent_commit=parent,
                ),
            )
        if repo_type == "model":
            self._branches()[revision] = info.oid
        else:
            self._head = info.oid
        pushed = {
            op.path_in_repo: None if isinstance(op, CommitOperationDelete) else Blob.of(_content(op)) for op in ops
        }
        self.versions.update(_versions_key(repo_type, revision), pushed, commit=info.oid)
        files = self._trees.get(revision) if repo_type == "model" else self._listing
        if files is not None:  # keep what this store knows of the repo current
            for path, blob in pushed.items():
                if blob is None:
                    files.pop(path, None)
                else:
                    files[path] = blob
        return info

    def _creating_repo(self, repo_id: str, repo_type: str, call: Callable[[], _T]) -> _T:
        """``call()``; if the repo does not exist (preflight was not run), create it as preflight would and retry."""
        try:
            return call()
        except RepositoryNotFoundError:
            self._check_repo(repo_id, repo_type)
            return call()

    # -- what is on the Hub ---------------------------------------------------------------------------------------
    def _repo_for(self, artifact: str) -> tuple[str, str] | None:
        if artifact in MODEL_ARTIFACTS:
            return (self.model_repo, "model") if self.model_repo else None
        return (self.dataset_repo, "dataset") if self.dataset_repo else None

    def _remote_files(self, iteration: int, artifact: str) -> tuple[str, dict[str, str]]:
        """(revision, {path in repo: path relative to the local artifact ("" for a file artifact)})."""
        target = self._repo_for(artifact)
        if target is None:
            return "main", {}
        if artifact in MODEL_ARTIFACTS:
            revision = layout.iteration_dir(iteration)
            if revision not in self._branches():
                return revision, {}
            files = {p: p for p in self._model_tree(revision) if p not in _REPO_FILES}
            return revision, (files if "adapter_config.json" in files else {})
        prefix = layout.artifact_path(iteration, artifact)
        files = self._dataset_files()
        if prefix in files:
            return "main", {prefix: ""}
        root = f"{prefix}/{PREFERENCES_SAVED}" if artifact == "preferences" else prefix
        return "main", {p: p[len(root) + 1 :] for p in files if p.startswith(root + "/")}

    def _remote_blobs(self, iteration: int, artifact: str) -> tuple[str, dict[str, Blob]]:
        """(`Versions` key of its branch, {path in repo: blob}) of the Hub's copy of an artifact (no files: none)."""
        revision, files = self._remote_files(iteration, artifact)
        repo_type = "model" if artifact in MODEL_ARTIFACTS else "dataset"
        listing = (self._model_tree(revision) if repo_type == "model" else self._dataset_files()) if files else {}
        return _versions_key(repo_type, revision), {p: listing[p] for p in files}

    def _dataset_files(self) -> dict[str, Blob]:
        """Every file of the dataset repo's main branch (one recursive listing at its head commit, kept up to date by
        our commits)."""
        if self._listing is None:
            assert self.dataset_repo is not None
            repo = self.dataset_repo
            with self._errors(f"reading the head of dataset repo {repo}", repo, "dataset"):
                try:
                    self._head = self.api.repo_info(repo, repo_type="dataset").sha
                except RepositoryNotFoundError:
                    self._head = None
            self._listing = self._list(repo, "dataset", self._head or "main")
        return self._listing

    def _model_tree(self, revision: str) -> dict[str, Blob]:
        """Every file of a model repo branch (one listing per branch, kept up to date by our commits)."""
        if revision not in self._trees:
            assert self.model_repo is not None
            self._trees[revision] = self._list(self.model_repo, "model", revision)
        return self._trees[revision]

    def _model_files(self, revision: str) -> list[str]:
        return list(self._model_tree(revision)) if revision in self._branches() else []

    def _list(self, repo_id: str, repo_type: str, revision: str) -> dict[str, Blob]:
        with self._errors(f"listing the files of {repo_type} repo {repo_id}@{revision}", repo_id, repo_type):
            try:
                entries = self.api.list_repo_tree(repo_id, recursive=True, repo_type=repo_type, revision=revision)
                return {
                    e.path: Blob(None if e.lfs else e.blob_id, e.lfs.sha256 if e.lfs else None)
                    for e in entries
                    if isinstance(e, RepoFile)
                }
            except (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError):
                return {}

    def _branches(self) -> dict[str, str]:
        """Branch -> head commit of the model repo (one request, kept up to date by our commits)."""
        if self._refs is None:
            assert self.model_repo is not None
            with self._errors("listing branches", self.model_repo, "model"):
                try:
                    refs = self.api.list_repo_refs(self.model_repo).branches
                    self._refs = {b.name: b.target_commit for b in refs}
                except RepositoryNotFoundError:
                    self._refs = {}
        return self._refs

    def _adapter_iterations(self) -> list[int]:
        """Iterations with a branch ``iter-<t>`` in the model repo, newest first (adapter or not)."""
        return sorted((t for b in self._branches() if (t := layout.iteration_of(b)) is not None), reverse=True)

    def _latest_adapter(self) -> int | None:
        return next((t for t in self._adapter_iterations() if self._remote_files(t, "adapter")[1]), None)

    def _remote_iterations(self, artifact: str) -> list[int]:
        layout.check_artifact(artifact)
        target = self._repo_for(artifact)
        if target is None:
            return []
        if artifact in MODEL_ARTIFACTS:
            return sorted(t for t in self._adapter_iterations() if self._remote_files(t, artifact)[1])
        found = {layout.iteration_of(p.split("/")[0]) for p in self._dataset_files()}
        return sorted(t for t in found if t is not None and self._remote_files(t, artifact)[1])

    def _local_shards(self, iteration: int, artifact: str) -> list[int]:
        folder = self.shard_path(iteration, artifact, 0).parent
        return sorted(i for p in folder.glob("*.jsonl") if (i := layout.shard_index(p.name)) is not None)

    # -- messages -------------------------------------------------------------------------------------------------
    def _repos(self) -> list[tuple[str, str]]:
        return [(r, t) for r, t in ((self.model_repo, "model"), (self.dataset_repo, "dataset")) if r]

    def _repos_text(self) -> str:
        return " and ".join(f"the {t} repo {r}" for r, t in self._repos())

    @staticmethod
    def _what(labels: list[tuple[int, str]], *, start: bool = False) -> str:
        """``iteration 1's samples; ...``, capitalised to ``start`` a sentence."""
        text = "; ".join(f"iteration {t}'s {w}" for t, w in labels) or "nothing"
        return text[0].upper() + text[1:] if start else text

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
            f"token with 'repo.write' on that namespace or on this {repo_type} repo) in HF_TOKEN or "
            "`huggingface_hub.login()`, or pick a repo under your own namespace."
        )

    @staticmethod
    @contextmanager
    def _kept_locally(what: str, path: Path) -> Iterator[None]:
        """Say, on a failed push, that the artifact is safe locally and how it gets pushed later."""
        try:
            yield
        except VersionConflict:
            raise
        except StoreError as err:
            text = (
                f"{what} is complete in the local store ({path}) but was not pushed: {err} The next "
                "`store.preflight()` (run before each stage) or `store.sync()` pushes it."
            )
            if isinstance(err, HubRateLimited):
                raise HubRateLimited(text, err.retry_at) from err
            raise StoreError(text) from err

    def _errors(self, action: str, repo_id: str, repo_type: str, *, any_error: bool = False):
        return hub_errors(action, repo_id, repo_type, self.endpoint, any_error=any_error)


def _message(labels: list[tuple[int, str]]) -> str:
    """A commit title: ``iter-1: samples, timings; iter-2: 16 samples shards``."""
    by_iteration: dict[int, list[str]] = {}
    for t, what in labels:
        by_iteration.setdefault(t, []).append(what)
    return "; ".join(f"{layout.iteration_dir(t)}: {', '.join(w)}" for t, w in sorted(by_iteration.items()))


def _making_differences(stored: dict[str, Any] | None, now: dict[str, Any]) -> str:
    """How a checkpoint's `made_from` differs from this run's, in words."""
    if stored is None:
        return "unrecorded preferences and training values (pushed by an older version)"
    names = [n for n in now["params"] if stored.get("params", {}).get(n) != now["params"][n]]
    inputs = [p for p in now["inputs"] if stored.get("inputs", {}).get(p) != now["inputs"][p]]
    parts = [f"another {p}" for p in inputs] + [f"{n}={stored.get('params', {}).get(n)!r}" for n in names]
    return ", ".join(parts) or "other values"


def _count_down(until: float, desc: str) -> None:
    """Wait until ``until`` (``time.time()``), a bar counting the seconds."""
    from .progress import progress_bar

    seconds = max(0, math.ceil(until - time.time()))
    with progress_bar(total=seconds, desc=desc, unit="s", mininterval=1.0) as bar:
        for _ in range(seconds):
            time.sleep(1)
            bar.update(1)


def _versions_key(repo_type: str, revision: str) -> str:
    """Where `Versions` keeps a branch: ``dataset`` (its main branch), ``model@<branch>``."""
    return "dataset" if repo_type == "dataset" else f"model@{revision}"


def _same(remote: Blob | None, local: Path | bytes) -> bool:
    """Whether the Hub's file ``remote`` holds ``local`` (a file or bytes)."""
    if remote is None:
        return False
    return remote.same(local if isinstance(local, bytes) else local.read_bytes())


def _content(op: CommitOperationAdd) -> bytes:
    source = op.path_or_fileobj
    return source if isinstance(source, bytes) else Path(str(source)).read_bytes()


def _can_write(me: Mapping[str, Any], repo_id: str, repo_type: str) -> bool:
    """Whether the token described by ``whoami`` may write to ``repo_id`` (True when the answer does not say).

    A fine-grained token needs ``repo.write`` on the repo's namespace (user or org) or on the repo itself, of the
    same repo type; names compare case-insensitively, as on the Hub.
    """
    token = me.get("auth", {}).get("accessToken", {})
    role = token.get("role")
    if role == "read":
        return False
    if role != "fineGrained":
        return True
    namespace = repo_id.split("/")[0].lower()
    for scope in (token.get("fineGrained") or {}).get("scoped", []):
        entity = scope.get("entity", {})
        name, entity_type = str(entity.get("name", "")).lower(), entity.get("type")
        covers = (entity_type in ("user", "org") and name == namespace) or (
            entity_type == repo_type and name == repo_id.lower()
        )
        if covers and "repo.write" in scope.get("permissions", []):
            return True
    return False


def _walk(folder: Path) -> list[tuple[str, Path]]:
    """(posix path relative to ``folder``, file) for every file below ``folder``, sorted."""
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())


def _write_parquet(saved: Path, out: Path) -> list[Path]:
    """The dataset saved in ``saved`` as ``train-0000i-of-0000n.parquet`` files (another split name for a dict); none
    for an empty dataset (an iteration whose method found no training rows), which ``load_from_disk`` cannot read."""
    from datasets import Dataset, load_from_disk

    state = saved / "state.json"
    if state.exists() and not json.loads(state.read_text()).get("_data_files"):
        return []
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
