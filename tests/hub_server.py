"""A loopback stand-in for the Hugging Face Hub, for tests that run the real `huggingface_hub` and `datasets` clients.

`HubServer` serves, on ``127.0.0.1`` and a free port, the part of the Hub HTTP API that `huggingface_hub` 2.4,
`datasets` 5.2, `transformers` and `peft` call when a program creates repos, commits files, makes branches, changes
settings and downloads files (endpoints listed in `_Handler`). Repos live in memory with a full commit history per
branch. As on the Hub, a file goes through git LFS when the repo's ``.gitattributes`` or `LFS_PATTERNS` name it or it
has `LFS_THRESHOLD` bytes or more (preupload answers ``uploadMode: lfs``, the client uploads it with the LFS batch API
and commits an ``lfsFile`` pointer); other files are regular git blobs. Xet is never offered, so the clients must run
with ``HF_HUB_DISABLE_XET`` (`hub_environment` and `configure_clients` set it). Standard library, PyYAML (card
metadata) and pytest (fixtures).

Tokens (`DEFAULT_TOKENS`), all of user ``USER``: ``WRITE_TOKEN`` and ``READ_TOKEN`` (classic; a read token gets 403 on
every write); fine-grained ``FINE_WRITE_TOKEN`` (read and write in ``USER``'s namespace), ``FINE_READ_TOKEN`` (read
only) and ``FINE_REPO_TOKEN`` (read and write on the dataset repo ``FINE_REPO`` only). An unknown token gets 401
``Invalid credentials in Authorization header`` on every request, as on the Hub.

For error tests: `HubServer.limit_commits` sets the Hub's commit rate limit per repo (429 with ``Retry-After`` and
``RateLimit`` headers, on the commit endpoint only, which `HfApi.create_commit` does not retry), and `HubServer.fail`
makes the next matching requests fail. Every answer carries a fresh ``X-Request-Id``.

The `hub` fixture starts a server for one test and points the clients at it (see `configure_clients` for how and
why). Requests the server does not implement answer 404 and are recorded in `HubServer.unhandled`, so a test can
assert that the clients asked for nothing the stand-in does not know.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import importlib.util
import json
import math
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

USER = "codelutra-tester"
WRITE_TOKEN = "hf_test_write_token"
READ_TOKEN = "hf_test_read_token"
FINE_WRITE_TOKEN = "hf_test_fine_write_token"
FINE_READ_TOKEN = "hf_test_fine_read_token"
FINE_REPO_TOKEN = "hf_test_fine_repo_token"
FINE_REPO = f"{USER}/fine-scoped"
"""The dataset repo that `FINE_REPO_TOKEN` may read and write (it is not created: a test makes it)."""
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
LFS_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.arrow", "*.safetensors", "*.parquet")
"""Files that go through LFS whatever the repo's ``.gitattributes`` says (the Hub's default one names them)."""
LFS_THRESHOLD = 10 * 1024 * 1024
"""Files of this many bytes or more go through LFS, as on the Hub."""
COMMIT_WINDOW_S = 3600
"""The rolling window of the commit rate limit (`HubServer.limit_commits`), in seconds."""
LICENSES = tuple(
    "apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigcode-openrail-m afl-3.0 artistic-2.0 "
    "bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear cc cc0-1.0 cc-by-2.0 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 "
    "cc-by-sa-4.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-4.0 cc-by-nc-sa-4.0 wtfpl agpl-3.0 gpl-2.0 gpl-3.0 lgpl-2.1 "
    "lgpl-3.0 isc mpl-2.0 odc-by odbl unlicense llama2 llama3 llama3.1 llama3.2 llama3.3 gemma unknown other".split()
)
"""The ``license`` ids that ``validate-yaml`` accepts (some of the Hub's; ``other`` goes with ``license_name``)."""
_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob, which the Hub uses as ETag and ``oid`` of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, bytes]
    lfs: frozenset[str] = frozenset()
    """The paths of ``files`` stored in git LFS (the others are regular blobs)."""


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    """Content uploaded through the LFS batch API, by sha256 (a commit's ``lfsFile`` may name only these)."""

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        matches = [c for oid, c in self.commits.items() if len(revision) >= 7 and oid.startswith(revision)]
        return matches[0] if len(matches) == 1 else None

    def history(self, oid: str) -> list[Commit]:
        out: list[Commit] = []
        cursor: str | None = oid
        while cursor is not None:
            out.append(self.commits[cursor])
            cursor = self.commits[cursor].parent
        return out


@dataclass(frozen=True)
class Token:
    """An access token of ``user``. ``role`` is "read", "write" or "fineGrained"; a fine-grained token has only the
    permissions of its ``scoped`` entries, each as in the Hub's whoami (see `fine_scope`)."""

    user: str
    role: str
    scoped: tuple[dict[str, Any], ...] = ()

    def may(self, permission: str, repo_type: str, repo_id: str, *, namespace_only: bool = False) -> bool:
        """Whether the token grants ``permission`` ("repo.content.read" or "repo.write") on a repo.

        A classic token acts in its user's namespace (a read token cannot write). A fine-grained one needs a scope
        with ``permission`` whose entity is the namespace (user or org) or, unless ``namespace_only`` (creating a
        repo), the repo itself; names compare case-insensitively, as repo ids on the Hub do.
        """
        namespace = _namespace(repo_id)
        if self.role != "fineGrained":
            return self.user == namespace and (permission != "repo.write" or self.role == "write")
        for scope in self.scoped:
            entity = scope.get("entity", {})
            kind, name = entity.get("type"), str(entity.get("name", "")).lower()
            if permission in scope.get("permissions", ()) and (
                (kind in ("user", "org") and name == namespace.lower())
                or (not namespace_only and kind == repo_type and name == repo_id.lower())
            ):
                return True
        return False


def fine_scope(entity_type: str, name: str, *permissions: str) -> dict[str, Any]:
    """One scope of a fine-grained `Token`: ``permissions`` on a user, org, model, dataset or space ``name``."""
    return {"entity": {"type": entity_type, "name": name}, "permissions": list(permissions)}


DEFAULT_TOKENS = {
    WRITE_TOKEN: Token(USER, "write"),
    READ_TOKEN: Token(USER, "read"),
    FINE_WRITE_TOKEN: Token(USER, "fineGrained", (fine_scope("user", USER, "repo.content.read", "repo.write"),)),
    FINE_READ_TOKEN: Token(USER, "fineGrained", (fine_scope("user", USER, "repo.content.read"),)),
    FINE_REPO_TOKEN: Token(USER, "fineGrained", (fine_scope("dataset", FINE_REPO, "repo.content.read", "repo.write"),)),
}
"""The tokens a `HubServer` knows unless given others."""


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    times: int
    headers: dict[str, str]


class HubState:
    """Repos, tokens, limits and a request log, shared by the handler threads under one lock.

    ``clock`` (seconds, `time.time` by default) times the commits for the rate limit: a test may replace it with a
    fake clock to let the hour pass.
    """

    def __init__(self, tokens: dict[str, Token]):
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.requests: list[str] = []
        self.unhandled: list[str] = []
        self.refused: list[str] = []
        self.clock: Callable[[], float] = time.time
        self.commits_per_hour: int | None = None  # see `HubServer.limit_commits`
        self.commit_times: dict[tuple[str, str], list[float]] = {}
        self.lfs_uploads: list[str] = []  # sha256 of each object uploaded through the LFS batch API, in order
        self.lfs_tickets: dict[str, tuple[tuple[str, str], str, int]] = {}  # ticket -> (repo key, sha256, size)
        self.faults: list[_Fault] = []
        self._counter = 0

    def new_commit(
        self,
        repo: Repo,
        parent: str | None,
        files: dict[str, bytes],
        title: str,
        message: str,
        author: str,
        lfs: frozenset[str] = frozenset(),
    ) -> Commit:
        self._counter += 1
        seed = f"{repo.repo_type}/{repo.repo_id}:{parent}:{title}:{self._counter}:{time.time_ns()}".encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent, title, message, author, _now(), files, lfs)
        repo.commits[commit.oid] = commit
        return commit

    def commit_wait(self, repo: Repo) -> int | None:
        """Seconds until ``repo`` may commit again under ``commits_per_hour``, or None if it may now."""
        limit = self.commits_per_hour
        now = self.clock()
        recent = sorted(
            t for t in self.commit_times.get((repo.repo_type, repo.repo_id), []) if t > now - COMMIT_WINDOW_S
        )
        if limit is None or len(recent) < limit:
            return None
        return max(1, math.ceil(recent[len(recent) - limit] + COMMIT_WINDOW_S - now))

    def take_fault(self, method: str, path: str) -> _Fault | None:
        """The first fault set by `HubServer.fail` that matches the request, used up once."""
        for fault in self.faults:
            if fault.method == method and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def create_repo(self, repo_type: str, repo_id: str, private: bool, author: str) -> Repo:
        repo = Repo(repo_id, repo_type, private)
        initial = self.new_commit(repo, None, {".gitattributes": GITATTRIBUTES}, "initial commit", "", author)
        repo.branches["main"] = initial.oid
        self.repos[(repo_type, repo_id)] = repo
        return repo


class HubError(Exception):
    """An HTTP error answer: status, ``X-Error-Code`` and message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}


class _Handler(BaseHTTPRequestHandler):
    """Routes (``{type}s`` is ``models``, ``datasets`` or ``spaces``; ``{repo}`` is ``namespace/name``):

    - ``GET  /api/whoami-v2``
    - ``POST /api/validate-yaml``
    - ``GET  /api/organizations/{org}/overview`` (always 404: no organizations here)
    - ``POST /api/repos/create``
    - ``GET  /api/{type}s/{repo}`` and ``/api/{type}s/{repo}/revision/{rev}``
    - ``GET  /api/{type}s/{repo}/refs``, ``POST|DELETE /api/{type}s/{repo}/branch/{branch}``
    - ``GET  /api/{type}s/{repo}/commits/{rev}``
    - ``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]`` (``recursive``; no pagination)
    - ``POST /api/{type}s/{repo}/paths-info/{rev}`` (form or JSON ``paths``)
    - ``POST /api/{type}s/{repo}/preupload/{rev}`` (``lfs`` or ``regular``, see the module docstring)
    - ``POST /api/{type}s/{repo}/commit/{rev}`` (NDJSON: ``header``, ``file`` in base64, ``lfsFile`` of an uploaded
      object, ``deletedFile``, ``deletedFolder``; ``parentCommit`` checked; 429 past the commit rate limit)
    - ``PUT  /api/{type}s/{repo}/settings`` (``visibility`` or ``private``)
    - ``POST /[{type}s/]{repo}.git/info/lfs/objects/batch`` (upload, ``basic`` transfer) and ``.../verify``
    - ``PUT  /lfs-upload/{sha256}?ticket=...`` (the upload action of a batch answer; sha256 and size checked)
    - ``GET|HEAD /{repo}/resolve/{rev}/{path}``, ``/datasets/{repo}/resolve/...`` (ETag, X-Repo-Commit,
      Content-Length, ``Range``; X-Linked-Etag and X-Linked-Size for LFS files)

    Every answer has an ``X-Request-Id``; errors have ``X-Error-Message`` (and ``X-Error-Code`` where the Hub sends
    one) and ``{"error": message}``.
    """

    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default log line per request on stderr."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        raw_parts = [p for p in split.path.split("/") if p]
        query = parse_qs(split.query)
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        with self.state.lock:
            self.state.requests.append(f"{method} {self.path}")
        try:
            with self.state.lock:
                fault = self.state.take_fault(method, split.path)
            if fault is not None:
                raise HubError(fault.status, fault.message, headers=fault.headers)
            user = self._authenticate()
            with self.state.lock:
                handled = self._route(method, raw_parts, query, body, user)
            if not handled:
                with self.state.lock:
                    self.state.unhandled.append(f"{method} {self.path}")
                raise HubError(404, f"Not implemented by the test hub: {method} {split.path}")
        except HubError as err:
            with self.state.lock:
                self.state.refused.append(f"{err.status} {method} {split.path}")
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json({"error": err.message, **err.extra}, err.status, headers)
        except Exception as err:  # noqa: BLE001 - a bug in the stand-in: show it in the client's error
            self._json({"error": f"test hub crashed: {type(err).__name__}: {err}"}, 500)

    def _authenticate(self) -> Token | None:
        header = self.headers.get("Authorization", "")
        if not header:
            return None
        token = header.removeprefix("Bearer ").strip()
        found = self.state.tokens.get(token)
        if found is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return found

    # -- routing ----------------------------------------------------------------------------------------------
    def _route(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, user: Token | None
    ) -> bool:
        if parts[:1] == ["api"]:
            return self._route_api(method, parts[1:], query, body, user)
        if parts[:1] == ["lfs-upload"] and len(parts) == 2 and method == "PUT":
            self._lfs_upload(parts[1], query.get("ticket", [""])[0], body)
            return True
        if len(parts) >= 2 and parts[0] in ("datasets", "spaces"):
            repo_type, parts = _REPO_TYPES[parts[0]], parts[1:]
        else:
            repo_type = "model"
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
            revision, path = unquote(parts[3]), "/".join(unquote(p) for p in parts[4:])
            self._resolve_file(repo_type, repo_id, revision, path, user)
            return True
        lfs_api = {"info/lfs/objects/batch": self._lfs_batch, "info/lfs/objects/verify": self._lfs_verify}
        if method == "POST" and len(parts) >= 3 and parts[1].endswith(".git") and "/".join(parts[2:]) in lfs_api:
            repo_id = f"{unquote(parts[0])}/{unquote(parts[1]).removesuffix('.git')}"
            lfs_api["/".join(parts[2:])](repo_type, repo_id, json.loads(body or b"{}"), user)
            return True
        return False

    def _route_api(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, user: Token | None
    ) -> bool:
        if parts == ["whoami-v2"] and method == "GET":
            self._whoami(user)
            return True
        if parts == ["validate-yaml"] and method == "POST":
            self._validate_yaml(json.loads(body or b"{}"))
            return True
        if parts[:1] == ["organizations"] and parts[2:] == ["overview"] and method == "GET":
            # asked by the `kernels` package (bitsandbytes' CPU backend checks a kernel's publisher when imported);
            # the loopback Hub has no organizations
            raise HubError(404, f"Organization {unquote(parts[1])!r} not found", "EntryNotFound")
        if parts == ["repos", "create"] and method == "POST":
            self._create_repo(json.loads(body or b"{}"), user)
            return True
        if len(parts) < 3 or parts[0] not in _REPO_TYPES:
            return False
        repo_type, repo_id, rest = _REPO_TYPES[parts[0]], f"{unquote(parts[1])}/{unquote(parts[2])}", parts[3:]
        if not rest and method == "GET":
            self._repo_info(repo_type, repo_id, "main", user)
        elif rest[:1] == ["revision"] and len(rest) == 2 and method == "GET":
            self._repo_info(repo_type, repo_id, unquote(rest[1]), user)
        elif rest == ["refs"] and method == "GET":
            self._refs(repo_type, repo_id, user)
        elif rest[:1] == ["branch"] and len(rest) == 2 and method in ("POST", "DELETE"):
            self._branch(method, repo_type, repo_id, unquote(rest[1]), body, user)
        elif rest[:1] == ["commits"] and len(rest) == 2 and method == "GET":
            self._commits(repo_type, repo_id, unquote(rest[1]), user)
        elif rest[:1] == ["tree"] and len(rest) >= 2 and method == "GET":
            path = "/".join(unquote(p) for p in rest[2:])
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            self._tree(repo_type, repo_id, unquote(rest[1]), path, recursive, user)
        elif rest[:1] == ["paths-info"] and len(rest) == 2 and method == "POST":
            self._paths_info(repo_type, repo_id, unquote(rest[1]), body, user)
        elif rest[:1] == ["preupload"] and len(rest) == 2 and method == "POST":
            self._preupload(repo_type, repo_id, unquote(rest[1]), json.loads(body or b"{}"), user)
        elif rest[:1] == ["commit"] and len(rest) == 2 and method == "POST":
            self._commit(repo_type, repo_id, unquote(rest[1]), body, query, user)
        elif rest == ["settings"] and method == "PUT":
            self._settings(repo_type, repo_id, json.loads(body or b"{}"), user)
        else:
            return False
        return True

    # -- access -----------------------------------------------------------------------------------------------
    def _repo(self, repo_type: str, repo_id: str, user: Token | None, write: bool = False) -> Repo:
        repo = self.state.repos.get((repo_type, repo_id))
        visible = repo is not None and (
            not repo.private or (user is not None and user.may("repo.content.read", repo_type, repo_id))
        )
        if not visible:
            # Like the Hub: a private repo of someone else is indistinguishable from a missing one.
            status = 401 if user is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write:
            self._require_write(user, repo_type, repo_id)
        assert repo is not None
        return repo

    @staticmethod
    def _require_write(user: Token | None, repo_type: str, repo_id: str) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repository", "RepoNotFound")
        if not user.may("repo.write", repo_type, repo_id):
            raise HubError(
                403,
                f"You don't have write access to {repo_id}: the token is read-only, not allowed for this "
                f"namespace, or a fine-grained token without repo.write on it. Pass `create_pr=1` as a query "
                f"parameter to create a Pull Request instead.",
            )

    @staticmethod
    def _commit_at(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- endpoints --------------------------------------------------------------------------------------------
    def _whoami(self, user: Token | None) -> None:
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        access: dict[str, Any] = {"displayName": f"{user.role} token", "role": user.role}
        if user.role == "fineGrained":
            scoped = [{**s, "entity": {"_id": _object_id(s["entity"]["name"]), **s["entity"]}} for s in user.scoped]
            access["fineGrained"] = {"canReadGatedRepos": False, "global": [], "scoped": scoped}
        self._json(
            {
                "type": "user",
                "id": _object_id(user.user),
                "name": user.user,
                "fullname": user.user,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": access},
            }
        )

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        errors = _metadata_errors(payload.get("content", ""))
        if errors and "text/plain" in self.headers.get("Accept", ""):
            # What `RepoCard.validate` asks for, and raises as ValueError(text).
            text = "\n".join(f"- Error: {error}" for error in errors)
            self._send(400, text.encode(), content_type="text/plain; charset=utf-8")
        else:
            self._json({"errors": [{"message": error} for error in errors], "warnings": []}, 400 if errors else 200)

    def _create_repo(self, payload: dict[str, Any], user: Token | None) -> None:
        namespace = payload.get("organization") or (user.user if user else None)
        repo_id = f"{namespace}/{payload.get('name')}"
        repo_type = payload.get("type") or "model"
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if not user.may("repo.write", repo_type, repo_id, namespace_only=True):
            raise HubError(
                403,
                f"You don't have the rights to create a {repo_type} under the namespace "
                f'"{namespace}": the token is read-only or not allowed for this namespace.',
            )
        url = f"{self.base_url}/{_URL_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.state.repos:
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.state.create_repo(repo_type, repo_id, private, user.user)
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _repo_info(self, repo_type: str, repo_id: str, revision: str, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        self._json(
            {
                "_id": _object_id(repo_id),
                "id": repo_id,
                "author": _namespace(repo_id),
                "sha": commit.oid,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "lastModified": commit.date,
                "createdAt": repo.history(commit.oid)[-1].date,
                "tags": [],
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
        )

    def _refs(self, repo_type: str, repo_id: str, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in sorted(repo.branches.items())
        ]
        self._json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _branch(self, method: str, repo_type: str, repo_id: str, branch: str, body: bytes, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        if method == "DELETE":
            if branch not in repo.branches or branch == "main":
                raise HubError(
                    404 if branch not in repo.branches else 403,
                    f"Cannot delete branch {branch}",
                    "RevisionNotFound" if branch not in repo.branches else None,
                )
            del repo.branches[branch]
            self._json({})
            return
        if branch in repo.branches:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        starting_point = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
        repo.branches[branch] = self._commit_at(repo, starting_point).oid
        self._json({})

    def _commits(self, repo_type: str, repo_id: str, revision: str, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        self._json(
            [
                {"id": c.oid, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
                for c in repo.history(commit.oid)
            ]
        )

    def _entries(self, commit: Commit) -> dict[str, dict[str, Any]]:
        """Every file and folder of a commit as a tree entry, keyed by path."""
        entries: dict[str, dict[str, Any]] = {}
        for path, data in commit.files.items():
            entries[path] = {"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": path}
            if path in commit.lfs:
                # As on the Hub: the git blob is the pointer file; ``lfs`` describes the content.
                pointer = lfs_pointer(data)
                entries[path]["oid"] = git_blob_sha(pointer)
                entries[path]["lfs"] = {"oid": _sha256(data), "size": len(data), "pointerSize": len(pointer)}
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                entries.setdefault(
                    folder,
                    {
                        "type": "directory",
                        "size": 0,
                        "path": folder,
                        "oid": hashlib.sha1(f"{commit.oid}:{folder}".encode()).hexdigest(),
                    },
                )
        return entries

    def _tree(
        self, repo_type: str, repo_id: str, revision: str, path: str, recursive: bool, user: Token | None
    ) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        entries = self._entries(commit)
        path = path.strip("/")
        if path and entries.get(path, {}).get("type") != "directory":
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        prefix = f"{path}/" if path else ""
        out = []
        for entry_path, entry in sorted(entries.items()):
            if not entry_path.startswith(prefix):
                continue
            if recursive or "/" not in entry_path[len(prefix) :]:
                out.append(entry)
        self._json(out)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str, body: bytes, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        entries = self._entries(commit)
        self._json([entries[p.strip("/")] for p in paths if p.strip("/") in entries])

    def _preupload(
        self, repo_type: str, repo_id: str, revision: str, payload: dict[str, Any], user: Token | None
    ) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        commit = self._commit_at(repo, revision)
        patterns = _lfs_patterns(commit.files.get(".gitattributes", b""))
        files = []
        for item in payload.get("files", []):
            path, existing = item["path"], commit.files.get(item["path"])
            lfs = item.get("size", 0) >= LFS_THRESHOLD or _matches(path, patterns)
            # The oid the client compares with its own to skip unchanged files: sha256 for LFS, git blob id otherwise.
            oid = None if existing is None else _sha256(existing) if path in commit.lfs else git_blob_sha(existing)
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._json({"files": files, "commitOid": commit.oid})

    def _commit(
        self, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict[str, list[str]], user: Token | None
    ) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        wait = self.state.commit_wait(repo)
        if wait is not None:
            limit = self.state.commits_per_hour
            raise HubError(
                429,
                f"You have exceeded our rate limit for repository commits ({limit} per hour). "
                f"Retry after {wait} seconds.",
                headers={
                    "Retry-After": str(wait),
                    "RateLimit": f'"commits";r=0;t={wait}',
                    "RateLimit-Policy": f'"fixed window";"commits";q={limit};w={COMMIT_WINDOW_S}',
                },
            )
        if query.get("create_pr"):
            raise HubError(400, "Pull requests are not implemented by the test hub")
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision} is not a branch", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        files, lfs = dict(head.files), set(head.lfs)
        items = [json.loads(line) for line in body.splitlines() if line.strip()]
        header: dict[str, Any] = next((item["value"] for item in items if item["key"] == "header"), {})
        parent = header.get("parentCommit")
        if parent is not None and not head.oid.startswith(parent):  # before any operation is looked at, as the Hub
            raise HubError(412, f"Parent commit {parent} is not the head of {revision} ({head.oid})")
        for item in items:
            key, value = item["key"], item["value"]
            if key == "header":
                continue
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
                lfs.discard(value["path"])
            elif key == "lfsFile":
                files[value["path"]] = self._lfs_object(repo, value)
                lfs.add(value["path"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, f"Operation {key!r} is not implemented by the test hub")
        assert user is not None
        summary, description = header.get("summary", ""), header.get("description", "")
        commit = self.state.new_commit(
            repo, head.oid, files, summary, description, user.user, frozenset(lfs & files.keys())
        )
        repo.branches[revision] = commit.oid
        self.state.commit_times.setdefault((repo_type, repo_id), []).append(self.state.clock())
        url = f"{self.base_url}/{_URL_PREFIX[repo_type]}{repo_id}/commit/{commit.oid}"
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None})

    @staticmethod
    def _lfs_object(repo: Repo, value: dict[str, Any]) -> bytes:
        """The content that a commit's ``lfsFile`` line names (400 unless it was uploaded to the repo)."""
        if value.get("algo", "sha256") != "sha256":
            raise HubError(400, f"Unsupported LFS hash algorithm {value.get('algo')!r}")
        data = repo.lfs_objects.get(value.get("oid", ""))
        if data is None:
            raise HubError(
                400,
                f"Your push was rejected because an LFS pointer pointed to a file that does not exist: "
                f"{value['path']} (sha256 {value.get('oid')}): LFS object not found",
            )
        if value.get("size", len(data)) != len(data):
            raise HubError(400, f"LFS object {value['oid']} has {len(data)} bytes, not {value['size']}")
        return data

    def _lfs_batch(self, repo_type: str, repo_id: str, payload: dict[str, Any], user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the upload operation of the LFS batch API is implemented by the test hub")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "The test hub offers only the basic LFS transfer")
        objects = []
        for item in payload.get("objects", []):
            oid, size = item.get("oid"), item.get("size")
            if not (
                isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) and isinstance(size, int) and size >= 0
            ):
                objects.append({"oid": str(oid), "size": 0, "error": {"code": 422, "message": "Invalid object"}})
                continue
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in repo.lfs_objects:  # stored objects get no actions: nothing to upload
                ticket = uuid.uuid4().hex  # stands for the signature of the Hub's presigned storage URL
                self.state.lfs_tickets[ticket] = ((repo_type, repo_id), oid, size)
                git_url = f"{self.base_url}/{_URL_PREFIX[repo_type]}{repo_id}.git"
                entry["actions"] = {
                    "upload": {"href": f"{self.base_url}/lfs-upload/{oid}?ticket={ticket}", "expires_in": 3600},
                    "verify": {"href": f"{git_url}/info/lfs/objects/verify"},
                }
            objects.append(entry)
        body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
        self._send(200, body, content_type="application/vnd.git-lfs+json")

    def _lfs_upload(self, oid: str, ticket: str, body: bytes) -> None:
        found = self.state.lfs_tickets.get(ticket)
        if found is None or found[1] != oid:
            raise HubError(403, "Request has expired or its signature does not match (no such LFS upload ticket)")
        key, _, size = found
        if len(body) != size or _sha256(body) != oid:
            raise HubError(
                400,
                f"The uploaded content ({len(body)} bytes, sha256 {_sha256(body)}) is not the announced object "
                f"({size} bytes, sha256 {oid})",
            )
        self.state.repos[key].lfs_objects[oid] = body
        self.state.lfs_uploads.append(oid)
        self._send(200)

    def _lfs_verify(self, repo_type: str, repo_id: str, payload: dict[str, Any], user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        data = repo.lfs_objects.get(payload.get("oid", ""))
        if data is None or len(data) != payload.get("size"):
            raise HubError(404, f"LFS object not found: {payload.get('oid')} ({payload.get('size')} bytes)")
        self._json({})

    def _settings(self, repo_type: str, repo_id: str, payload: dict[str, Any], user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        unknown = sorted(set(payload) - {"private", "visibility"})
        if unknown:
            raise HubError(400, f"Settings {unknown} are not implemented by the test hub")
        if payload.get("visibility", "public") not in ("public", "private"):
            raise HubError(400, '"visibility" must be one of [public, private]')
        if not isinstance(payload.get("private", False), bool):
            raise HubError(400, '"private" must be a boolean')
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        if "private" in payload:
            repo.private = payload["private"]
        self._json({"private": repo.private})

    def _resolve_file(self, repo_type: str, repo_id: str, revision: str, path: str, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        data = commit.files.get(path)
        if data is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"ETag": f'"{git_blob_sha(data)}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if path in commit.lfs:
            # The clients name the cached blob after the linked ETag (the sha256) and check the linked size.
            sha256 = _sha256(data)
            headers.update({"ETag": f'"{sha256}"', "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data))})
        status, payload = 200, data
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if match and self.command == "GET":
            start = int(match.group(1)) if match.group(1) else max(len(data) - int(match.group(2) or 0), 0)
            end = int(match.group(2)) if match.group(1) and match.group(2) else len(data) - 1
            if start >= len(data):
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            end = min(end, len(data) - 1)
            status, payload = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(status, payload, headers, content_type="application/octet-stream")


def _namespace(repo_id: str) -> str:
    return repo_id.split("/", 1)[0]


def _object_id(name: str) -> str:
    """A stable stand-in for the Hub's database id of a user, org or repo."""
    return hashlib.sha1(name.encode()).hexdigest()[:24]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The git LFS pointer file that git stores for ``data`` (its blob id is the tree ``oid`` of an LFS file)."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{_sha256(data)}\nsize {len(data)}\n".encode()


def _lfs_patterns(gitattributes: bytes) -> list[str]:
    """The patterns of ``.gitattributes`` lines with ``filter=lfs``, and `LFS_PATTERNS`."""
    patterns = list(LFS_PATTERNS)
    for line in gitattributes.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) > 1 and not fields[0].startswith("#") and "filter=lfs" in fields[1:]:
            patterns.append(fields[0])
    return patterns


def _matches(path: str, patterns: list[str]) -> bool:
    """Whether a gitattributes pattern names ``path`` (one without ``/`` matches the file name at any depth)."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p.lstrip("/")) for p in patterns)


_YAML_BLOCK = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")  # as huggingface_hub.repocard
_REPO_ID = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/)?[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def _metadata_errors(content: str) -> list[str]:
    """What the Hub's ``validate-yaml`` finds wrong in a card's metadata (a card without metadata is fine)."""
    block = _YAML_BLOCK.match(content)
    if block is None:
        return []
    try:
        data = yaml.safe_load(block.group(2))
    except yaml.YAMLError as err:
        return [f"Invalid YAML in the metadata: {err}"]
    if data is None:
        return []
    if not isinstance(data, dict):
        return ['"metadata" must be an object (a YAML mapping)']
    errors = []
    licenses = data.get("license", [])
    if not all(isinstance(x, str) and x in LICENSES for x in (licenses if isinstance(licenses, list) else [licenses])):
        errors.append(f'"license" must be one of [{", ".join(LICENSES)}]')
    base_models = data.get("base_model", [])
    base_models = base_models if isinstance(base_models, list) else [base_models]
    if not all(isinstance(x, str) for x in base_models):
        errors.append('"base_model" must be a string or an array of strings')
    for model in base_models:
        if isinstance(model, str) and not (_REPO_ID.fullmatch(model) and ".." not in model and "--" not in model):
            errors.append(f'"base_model" with value "{model}" is not a valid model id')
    tags = data.get("tags", [])
    if not (isinstance(tags, list) and all(isinstance(x, str) for x in tags)):
        errors.append('"tags" must be an array of strings')
    return errors


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState


class HubServer:
    """A Hub stand-in on ``127.0.0.1`` and a free port; use as a context manager or `start` / `stop`.

    ``tokens`` default to `DEFAULT_TOKENS`; ``commits_per_hour`` is the commit rate limit (see `limit_commits`).
    """

    def __init__(self, tokens: dict[str, Token] | None = None, *, commits_per_hour: int | None = None):
        self.state = HubState(tokens if tokens is not None else DEFAULT_TOKENS)
        self.limit_commits(commits_per_hour)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("HubServer is not started; call start() or use it as a context manager.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[str]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def refused(self) -> list[str]:
        """``"<status> <METHOD> <path>"`` of every request answered with an error, in order."""
        with self.state.lock:
            return list(self.state.refused)

    @property
    def unhandled(self) -> list[str]:
        with self.state.lock:
            return list(self.state.unhandled)

    @property
    def lfs_uploads(self) -> list[str]:
        """The sha256 of every object uploaded through the LFS batch API, in order."""
        with self.state.lock:
            return list(self.state.lfs_uploads)

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        with self.state.lock:
            return self.state.repos.get((repo_type, repo_id))

    def commit_times(self, repo_id: str, repo_type: str = "model") -> list[float]:
        """When (`HubState.clock`) the commit endpoint accepted each commit to the repo, oldest first."""
        with self.state.lock:
            return list(self.state.commit_times.get((repo_type, repo_id), []))

    def limit_commits(self, per_hour: int | None) -> None:
        """Answer 429 to a repo's commit once it made ``per_hour`` commits in the last hour (None: no limit).

        Like the Hub's limit, it counts the commits of each repo (branch creation and deletion are not commits) and
        applies to the commit endpoint only: `HfApi.create_commit` posts it once and raises at once, while the
        preupload and LFS calls before it are retried on 429 after the ``Retry-After`` seconds.
        """
        if per_hour is not None and per_hour < 1:
            raise ValueError(f"per_hour must be at least 1, not {per_hour}")
        with self.state.lock:
            self.state.commits_per_hour = per_hour

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        message: str,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` ``method`` requests whose URL path matches ``path_pattern`` (`re.search`) with
        ``status``, ``{"error": message}``, ``X-Error-Message`` and ``headers``, before authentication.

        A 429 or 5xx on a call that the client retries (see `limit_commits`) costs the test its wait.
        """
        with self.state.lock:
            self.state.faults.append(
                _Fault(method.upper(), re.compile(path_pattern), status, message, times, dict(headers or {}))
            )

    def start(self) -> HubServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def hub_environment(url: str, home: Path, token: str | None = WRITE_TOKEN) -> dict[str, str]:
    """Environment variables that point the clients at ``url`` with caches under ``home`` (for subprocesses too)."""
    env = {
        "HF_ENDPOINT": url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def configure_clients(monkeypatch: pytest.MonkeyPatch, url: str, home: Path, token: str | None = WRITE_TOKEN) -> None:
    """Point `huggingface_hub`, `datasets` and `transformers` at ``url`` for one test.

    Why not just set ``HF_ENDPOINT``: `huggingface_hub.constants` and `datasets.config` read it (and the cache paths)
    once, at import, and an earlier test has usually imported them already. So this imports both first (while the
    environment still holds the real settings), then sets the environment (for subprocesses), and then sets the same
    *configuration values* on the constants modules: the endpoint and the URL templates derived from it, the cache
    folders, the token file path and ``HF_HUB_DISABLE_XET`` (the server offers LFS, never Xet); plus the endpoint of
    the two shared clients made at import or first use (`huggingface_hub.hf_api.api`, transformers' `hf_api()`). No
    function or method is replaced: every request goes through the real client code. ``monkeypatch`` restores
    everything after the test; call `forget_clients` too if transformers may have made its shared client during the
    test.
    """
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import hf_api

    if importlib.util.find_spec("datasets") is not None:
        import datasets.config  # noqa: F401 - imported before the environment changes, see above

    env = hub_environment(url, home, token)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    for key in ("HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)

    host = urlsplit(url).hostname or "127.0.0.1"
    for name, value in {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": frozenset(hf_constants.HF_URL_HOSTS | {host}),
        "HF_HOME": env["HF_HOME"],
        "HF_HUB_CACHE": env["HF_HUB_CACHE"],
        "HUGGINGFACE_HUB_CACHE": env["HF_HUB_CACHE"],
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": env["HF_XET_CACHE"],
        "HF_TOKEN_PATH": env["HF_TOKEN_PATH"],
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HUB_DISABLE_XET": True,
        "CHECK_FOR_UPDATE_DONE_PATH": str(home / ".check_for_update_done"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
    }.items():
        if hasattr(hf_constants, name):
            monkeypatch.setattr(hf_constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    if "transformers.utils.hub" in sys.modules:
        # transformers keeps one shared HfApi (the Trainer pushes through it), made on first use with the endpoint
        # of that moment: drop it so that it is made again for this endpoint (the old one is restored after).
        monkeypatch.setattr(sys.modules["transformers.utils.hub"], "_hf_api", None, raising=False)

    if "datasets" in sys.modules:
        import datasets.config as ds_config

        datasets_cache = Path(env["HF_DATASETS_CACHE"])
        for name, value in {
            "HF_ENDPOINT": url,
            "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_CACHE_HOME": env["HF_HOME"],
            "HF_DATASETS_CACHE": datasets_cache,
            "HF_MODULES_CACHE": home / "modules",
            "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
            "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
        }.items():
            if hasattr(ds_config, name):
                monkeypatch.setattr(ds_config, name, value)


def forget_clients(url: str) -> None:
    """Drop shared clients that were first made during the test for ``url`` (so no later test talks to it)."""
    hub_module = sys.modules.get("transformers.utils.hub")
    shared = getattr(hub_module, "_hf_api", None)
    if shared is not None and shared.endpoint == url:
        hub_module._hf_api = None  # type: ignore[union-attr]


@contextmanager
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """Run a `HubServer` and point the clients at it (``HF_TOKEN`` = `WRITE_TOKEN`, caches under ``tmp_path``)."""
    with HubServer() as server:
        configure_clients(monkeypatch, server.url, tmp_path / "hf_home")
        try:
            yield server
        finally:
            forget_clients(server.url)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running `HubServer` for one test, with the clients pointed at it (see `serving`)."""
    with serving(tmp_path, monkeypatch) as server:
        yield server


def closed_port_url() -> str:
    """The URL of a loopback port that nothing listens on (a Hub that is down)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


__all__ = [
    "COMMIT_WINDOW_S",
    "DEFAULT_TOKENS",
    "FINE_READ_TOKEN",
    "FINE_REPO",
    "FINE_REPO_TOKEN",
    "FINE_WRITE_TOKEN",
    "LFS_PATTERNS",
    "LFS_THRESHOLD",
    "LICENSES",
    "READ_TOKEN",
    "USER",
    "WRITE_TOKEN",
    "Commit",
    "HubServer",
    "HubState",
    "Repo",
    "Token",
    "closed_port_url",
    "configure_clients",
    "fine_scope",
    "forget_clients",
    "git_blob_sha",
    "hub",
    "hub_environment",
    "lfs_pointer",
    "serving",
]

if __name__ == "__main__":  # pragma: no cover - manual debugging: `python tests/hub_server.py`
    with HubServer() as _srv:
        print(_srv.url, flush=True)
        threading.Event().wait()
