"""A loopback stand-in for the Hugging Face Hub, for tests that run the real `huggingface_hub` and `datasets` clients.

`HubServer` serves, on ``127.0.0.1`` and a free port, the part of the Hub HTTP API that `huggingface_hub` 2.4,
`datasets` 5.2, `transformers` and `peft` call when a program creates repos, commits files, makes branches and
downloads files (endpoints listed in `_Handler`). Repos live in memory with a full commit history per branch; every
file is a regular git blob (the server answers ``uploadMode: regular`` to every preupload, so no LFS or Xet transfer
is ever started). Standard library only (pytest for the fixtures).

Tokens: ``WRITE_TOKEN`` and ``READ_TOKEN`` belong to user ``USER``; a read token gets 403 on every write, an unknown
token gets 401 ``Invalid credentials in Authorization header`` on every request, as on the Hub.

The `hub` fixture starts a server for one test and points the clients at it (see `configure_clients` for how and
why). Requests the server does not implement answer 404 and are recorded in `HubServer.unhandled`, so a test can
assert that the clients asked for nothing the stand-in does not know.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

USER = "codelutra-tester"
WRITE_TOKEN = "hf_test_write_token"
READ_TOKEN = "hf_test_read_token"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
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


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

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
    user: str
    role: str  # "read" or "write"


class HubState:
    """Repos, tokens and a request log, shared by the handler threads under one lock."""

    def __init__(self, tokens: dict[str, Token]):
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.requests: list[str] = []
        self.unhandled: list[str] = []
        self._counter = 0

    def new_commit(
        self, repo: Repo, parent: str | None, files: dict[str, bytes], title: str, message: str, author: str
    ) -> Commit:
        self._counter += 1
        seed = f"{repo.repo_type}/{repo.repo_id}:{parent}:{title}:{self._counter}:{time.time_ns()}".encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent, title, message, author, _now(), files)
        repo.commits[commit.oid] = commit
        return commit

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
    - ``POST /api/repos/create``
    - ``GET  /api/{type}s/{repo}`` and ``/api/{type}s/{repo}/revision/{rev}``
    - ``GET  /api/{type}s/{repo}/refs``, ``POST|DELETE /api/{type}s/{repo}/branch/{branch}``
    - ``GET  /api/{type}s/{repo}/commits/{rev}``
    - ``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]`` (``recursive``; no pagination)
    - ``POST /api/{type}s/{repo}/paths-info/{rev}`` (form or JSON ``paths``)
    - ``POST /api/{type}s/{repo}/preupload/{rev}`` (always ``regular``)
    - ``POST /api/{type}s/{repo}/commit/{rev}`` (NDJSON: ``header``, ``file`` in base64, ``deletedFile``,
      ``deletedFolder``; ``parentCommit`` checked)
    - ``GET|HEAD /{repo}/resolve/{rev}/{path}``, ``/datasets/{repo}/resolve/...`` (ETag, X-Repo-Commit,
      Content-Length, ``Range``)
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
            user = self._authenticate()
            with self.state.lock:
                handled = self._route(method, raw_parts, query, body, user)
            if not handled:
                with self.state.lock:
                    self.state.unhandled.append(f"{method} {self.path}")
                raise HubError(404, f"Not implemented by the test hub: {method} {split.path}")
        except HubError as err:
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
        if len(parts) >= 2 and parts[0] in ("datasets", "spaces") and method in ("GET", "HEAD"):
            repo_type, parts = _REPO_TYPES[parts[0]], parts[1:]
        else:
            repo_type = "model"
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
            revision, path = unquote(parts[3]), "/".join(unquote(p) for p in parts[4:])
            self._resolve_file(repo_type, repo_id, revision, path, user)
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
        else:
            return False
        return True

    # -- access -----------------------------------------------------------------------------------------------
    def _repo(self, repo_type: str, repo_id: str, user: Token | None, write: bool = False) -> Repo:
        repo = self.state.repos.get((repo_type, repo_id))
        visible = repo is not None and (not repo.private or (user is not None and user.user == _namespace(repo_id)))
        if not visible:
            # Like the Hub: a private repo of someone else is indistinguishable from a missing one.
            status = 401 if user is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write:
            self._require_write(user, repo_id)
        assert repo is not None
        return repo

    @staticmethod
    def _require_write(user: Token | None, repo_id: str) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repository", "RepoNotFound")
        if user.role != "write" or user.user != _namespace(repo_id):
            raise HubError(
                403,
                f"You don't have write access to {repo_id}: the token is read-only or not allowed "
                f"for this namespace. Pass `create_pr=1` as a query parameter to create a Pull "
                f"Request instead.",
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
        self._json(
            {
                "type": "user",
                "id": hashlib.sha1(user.user.encode()).hexdigest()[:24],
                "name": user.user,
                "fullname": user.user,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": f"{user.role} token", "role": user.role},
                },
            }
        )

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        # The Hub rejects a card whose base_model is not a model id; a local path is the usual mistake.
        content = payload.get("content", "")
        header = content.split("\n---", 1)[0] if content.startswith("---") else ""
        for line in header.splitlines():
            match = re.match(r"base_model:\s*(\S+)\s*$", line)
            if match and (match.group(1).startswith(("/", ".", "~")) or match.group(1).count("/") > 1):
                self._json(
                    {
                        "errors": [{"message": f'"base_model" with value "{match.group(1)}" is not a valid model id'}],
                        "warnings": [],
                    },
                    400,
                )
                return
        self._json({"errors": [], "warnings": []})

    def _create_repo(self, payload: dict[str, Any], user: Token | None) -> None:
        namespace = payload.get("organization") or (user.user if user else None)
        repo_id = f"{namespace}/{payload.get('name')}"
        repo_type = payload.get("type") or "model"
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if user.role != "write" or user.user != namespace:
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
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
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
        files = []
        for item in payload.get("files", []):
            existing = commit.files.get(item["path"])
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha(existing) if existing is not None else None,
                }
            )
        self._json({"files": files, "commitOid": commit.oid})

    def _commit(
        self, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict[str, list[str]], user: Token | None
    ) -> None:
        repo = self._repo(repo_type, repo_id, user, write=True)
        if query.get("create_pr"):
            raise HubError(400, "Pull requests are not implemented by the test hub")
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision} is not a branch", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        files = dict(head.files)
        header: dict[str, Any] = {}
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
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
                raise HubError(400, f"Operation {key!r} is not implemented by the test hub (only regular files)")
        parent = header.get("parentCommit")
        if parent is not None and not head.oid.startswith(parent):
            raise HubError(412, f"Parent commit {parent} is not the head of {revision} ({head.oid})")
        assert user is not None
        commit = self.state.new_commit(
            repo, head.oid, files, header.get("summary", ""), header.get("description", ""), user.user
        )
        repo.branches[revision] = commit.oid
        url = f"{self.base_url}/{_URL_PREFIX[repo_type]}{repo_id}/commit/{commit.oid}"
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None})

    def _resolve_file(self, repo_type: str, repo_id: str, revision: str, path: str, user: Token | None) -> None:
        repo = self._repo(repo_type, repo_id, user)
        commit = self._commit_at(repo, revision)
        data = commit.files.get(path)
        if data is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"ETag": f'"{git_blob_sha(data)}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState


class HubServer:
    """A Hub stand-in on ``127.0.0.1`` and a free port; use as a context manager or `start` / `stop`."""

    def __init__(self, tokens: dict[str, Token] | None = None):
        self.state = HubState(
            tokens
            if tokens is not None
            else {
                WRITE_TOKEN: Token(USER, "write"),
                READ_TOKEN: Token(USER, "read"),
            }
        )
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
    def unhandled(self) -> list[str]:
        with self.state.lock:
            return list(self.state.unhandled)

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        with self.state.lock:
            return self.state.repos.get((repo_type, repo_id))

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
    folders and the token file path; plus the endpoint of the two shared clients made at import or first use
    (`huggingface_hub.hf_api.api`, transformers' `hf_api()`). No function or method is replaced: every request goes
    through the real client code. ``monkeypatch`` restores everything after the test; call `forget_clients` too if
    transformers may have made its shared client during the test.
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
    "READ_TOKEN",
    "USER",
    "WRITE_TOKEN",
    "HubServer",
    "HubState",
    "Token",
    "closed_port_url",
    "configure_clients",
    "forget_clients",
    "git_blob_sha",
    "hub",
    "hub_environment",
    "serving",
]

if __name__ == "__main__":  # pragma: no cover - manual debugging: `python tests/hub_server.py`
    with HubServer() as _srv:
        print(_srv.url, flush=True)
        threading.Event().wait()
