"""Which version of each Hub file a store last pushed or pulled, and what that says when a copy changed.

A Hub store keeps, per repo branch (``dataset``, ``model@iter-2``), the blob of every file it pushed or pulled and the
commit it saw last, in ``<store>/.hub-versions.json`` (never pushed). Comparing the local file, the Hub's file and
the known version tells who changed it (`change`): only this machine (push it), only the Hub (pull it), or both
(a conflict, which stops the stage naming the file and both versions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import StoreError

VERSIONS_FILE = ".hub-versions.json"

Change = Literal["same", "ours", "theirs", "both"]
"""Who changed a file since the known version: nobody, this machine, the Hub (another writer), or both."""


@dataclass(frozen=True)
class Blob:
    """What the Hub says a file is: its git blob id (regular files) or its sha256 (LFS / Xet files), or both."""

    git: str | None = None
    sha256: str | None = None

    @staticmethod
    def of(data: bytes) -> Blob:
        return Blob(_git_blob_id(data), hashlib.sha256(data).hexdigest())

    def same(self, data: bytes) -> bool:
        """Whether this blob holds ``data``."""
        return self.matches(Blob.of(data))

    def matches(self, other: Blob) -> bool:
        """Whether both describe the same content (by sha256 where both know it, else by git blob id)."""
        if self.sha256 is not None and other.sha256 is not None:
            return self.sha256 == other.sha256
        return self.git is not None and self.git == other.git

    def __str__(self) -> str:
        return f"sha256 {self.sha256[:12]}" if self.sha256 else f"blob {str(self.git)[:12]}"


def change(local: bytes | None, remote: Blob | None, known: Blob | None) -> Change:
    """Who changed a file: ``local`` (None: not here), ``remote`` (None: not on the Hub), ``known`` (None: never
    pushed or pulled by this store)."""
    if local is None and remote is None:
        return "same"
    if local is not None and remote is not None and remote.same(local):
        return "same"
    ours = known is None or local is None or not known.same(local)
    theirs = known is None or remote is None or not known.matches(remote)
    if known is None:  # never seen here: a file only one side holds is that side's
        ours, theirs = local is not None, remote is not None
    if ours and theirs:
        return "both"
    return "ours" if ours else "theirs"


def decide(changes: Iterable[Change]) -> Literal["same", "push", "pull", "conflict"]:
    """What to do with an artifact whose files changed so."""
    found = set(changes)
    if "both" in found or {"ours", "theirs"} <= found:
        return "conflict"
    return "push" if "ours" in found else "pull" if "theirs" in found else "same"


class Versions:
    """The known version of each file per repo branch, saved in ``<root>/.hub-versions.json`` after each change and
    read again whenever that file changed (several stores of one process, or processes, share a folder)."""

    def __init__(self, root: Path):
        self.file = root / VERSIONS_FILE
        self._stamp: tuple[int, int] | None = None
        self._cached: dict[str, dict] = {}

    @property
    def _data(self) -> dict[str, dict]:
        try:
            stat = self.file.stat()
        except FileNotFoundError:
            self._stamp, self._cached = None, {}
            return self._cached
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            self._cached, self._stamp = json.loads(self.file.read_text()), (stat.st_mtime_ns, stat.st_size)
        return self._cached

    def known(self, repo: str, path: str) -> Blob | None:
        found = self._data.get(repo, {}).get("files", {}).get(path)
        return Blob(**found) if found else None

    def under(self, repo: str, prefix: str = "") -> dict[str, Blob]:
        """The known files below folder ``prefix`` (all of ``repo``'s without one)."""
        files = self._data.get(repo, {}).get("files", {})
        return {p: Blob(**b) for p, b in files.items() if not prefix or p.startswith(prefix + "/")}

    def update(self, repo: str, files: dict[str, Blob | None], commit: str | None = None) -> None:
        """Record ``files`` (None: forget the path) and the commit; saved at once."""
        data = self._data
        entry = data.setdefault(repo, {"files": {}})
        for path, blob in files.items():
            if blob is None:
                entry["files"].pop(path, None)
            else:
                entry["files"][path] = {"git": blob.git, "sha256": blob.sha256}
        if commit is not None:
            entry["commit"] = commit
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + ".partial")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.file)
        stat = self.file.stat()
        self._stamp = (stat.st_mtime_ns, stat.st_size)


class VersionConflict(StoreError):
    """A file changed both here and on the Hub since this store last pushed or pulled it."""

    def __init__(self, where: str, files: list[tuple[str, bytes | None, Blob | None]], root: Path):
        lines = [
            f"{path}: here {Blob.of(local) if local is not None else 'deleted'}, "
            f"on the Hub {remote if remote is not None else 'deleted'}"
            for path, local, remote in files
        ]
        super().__init__(
            f"{where} changed both in {root} and on the Hub since this store last pushed or pulled it (another machine "
            "or notebook wrote it too); nothing of it was pushed or pulled.\n  " + "\n  ".join(lines) + "\nKeep the "
            "Hub's: delete the local copy (the next fetch pulls it). Keep this one: delete the Hub's files (or redo "
            "the stage with force: true). Or give this run its own store_dir and repos."
        )


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
