"""The loopback Hub (tests/hub_server.py) seen through the real clients: request ids, the commit rate limit, injected
faults, git LFS uploads and downloads, fine-grained tokens, card metadata validation and repo settings."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hub_server import (
    FINE_READ_TOKEN,
    FINE_REPO,
    FINE_REPO_TOKEN,
    FINE_WRITE_TOKEN,
    READ_TOKEN,
    USER,
    WRITE_TOKEN,
    HubServer,
    Token,
    fine_scope,
    git_blob_sha,
    lfs_pointer,
)


def test_errors_carry_a_request_id_and_the_server_message(hub: HubServer) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    ids = []
    for _ in range(2):
        with pytest.raises(RepositoryNotFoundError) as missing:
            HfApi().repo_info(f"{USER}/no-such-repo")
        assert missing.value.server_message == "Repository not found"
        assert re.fullmatch(r"[0-9a-f]{32}", missing.value.request_id or "")
        ids.append(missing.value.request_id)
    assert ids[0] != ids[1]


def test_commit_rate_limit_fails_fast_until_the_hour_has_passed(hub: HubServer) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    now = [1_000_000.0]
    hub.state.clock = lambda: now[0]
    hub.limit_commits(3)
    busy, quiet = f"{USER}/busy", f"{USER}/quiet"
    api.create_repo(busy)
    api.create_repo(quiet)
    for i in range(3):
        api.upload_file(path_or_fileobj=str(i).encode(), path_in_repo=f"f{i}.txt", repo_id=busy)
        now[0] += 60
    api.create_branch(busy, branch="scratch")  # branches are not commits
    api.delete_branch(busy, branch="scratch")

    before, start = len(hub.requests), time.monotonic()
    with pytest.raises(HfHubHTTPError) as limited:
        api.create_commit(busy, [CommitOperationAdd("f3.txt", b"3")], commit_message="fourth")
    assert time.monotonic() - start < 1  # a retry would sleep Retry-After + 1 seconds
    assert [r for r in hub.requests[before:] if "/commit/" in r] == [f"POST /api/models/{busy}/commit/main"]
    err = limited.value
    assert err.response.status_code == 429
    assert "rate limit for repository commits (3 per hour)" in (err.server_message or "")
    retry = int(err.response.headers["Retry-After"])
    assert retry == 3600 - 180  # until the first of the three commits leaves the window
    assert err.response.headers["RateLimit"] == f'"commits";r=0;t={retry}'
    assert err.response.headers["RateLimit-Policy"] == '"fixed window";"commits";q=3;w=3600'

    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=quiet)  # other repos are unaffected
    now[0] += retry
    api.create_commit(busy, [CommitOperationAdd("f3.txt", b"3")], commit_message="fourth")
    assert len(hub.commit_times(busy)) == 4 and hub.commit_times(quiet) == [now[0] - retry]
    hub.limit_commits(None)
    api.upload_file(path_or_fileobj=b"5", path_in_repo="f5.txt", repo_id=busy)
    assert hub.unhandled == []


def test_fail_answers_the_next_matching_requests_with_an_error(hub: HubServer) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    repo = f"{USER}/flaky"
    api.create_repo(repo)
    message = "A commit has happened since. Please refresh and try again."
    hub.fail("post", rf"^/api/models/{repo}/commit/", 412, message, headers={"X-Error-Code": "Conflict"})
    with pytest.raises(HfHubHTTPError) as conflict:
        api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo)
    assert conflict.value.response.status_code == 412
    assert conflict.value.server_message == message
    assert conflict.value.response.headers["X-Error-Code"] == "Conflict"
    api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo)  # used up
    hub.fail("POST", r"/branch/", 409, "Busy", times=2)
    for _ in range(2):
        with pytest.raises(HfHubHTTPError, match="Busy"):
            api.create_branch(repo, branch="b")
    api.create_branch(repo, branch="b")
    assert api.list_repo_files(repo) == [".gitattributes", "a.txt"]


def test_lfs_files_go_through_the_batch_api_and_come_back_identical(hub: HubServer, tmp_path: Path) -> None:
    import torch
    from datasets import Dataset, load_dataset
    from huggingface_hub import CommitOperationAdd, HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.hf_api import RepoFile
    from safetensors.torch import save_file

    api = HfApi()
    repo = f"{USER}/lfs-data"
    api.create_repo(repo, repo_type="dataset")
    rows = [{"question": "a", "n": 1}, {"question": "b", "n": 2}]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "train.parquet"))
    save_file({"w": torch.arange(6.0).reshape(2, 3)}, str(tmp_path / "w.safetensors"))
    parquet_path = "data/train-00000-of-00001.parquet"
    parquet, weights = (tmp_path / "train.parquet").read_bytes(), (tmp_path / "w.safetensors").read_bytes()
    sha = {parquet_path: hashlib.sha256(parquet).hexdigest(), "w.safetensors": hashlib.sha256(weights).hexdigest()}

    before = len(hub.requests)
    api.create_commit(
        repo,
        [
            CommitOperationAdd(parquet_path, str(tmp_path / "train.parquet")),
            CommitOperationAdd("w.safetensors", str(tmp_path / "w.safetensors")),
            CommitOperationAdd("meta.json", b'{"rows": 2}'),
        ],
        commit_message="data",
        repo_type="dataset",
    )
    requests = hub.requests[before:]
    assert f"POST /datasets/{repo}.git/info/lfs/objects/batch" in requests
    assert requests.count(f"POST /datasets/{repo}.git/info/lfs/objects/verify") == 2
    assert sorted(r.split("?")[0] for r in requests if r.startswith("PUT ")) == sorted(
        f"PUT /lfs-upload/{oid}" for oid in sha.values()
    )
    assert sorted(hub.lfs_uploads) == sorted(sha.values())
    head = hub.repo(repo, "dataset").resolve("main")
    assert head.lfs == {parquet_path, "w.safetensors"}  # committed as lfsFile; meta.json as a regular file

    tree = {f.path: f for f in api.list_repo_tree(repo, repo_type="dataset", recursive=True) if isinstance(f, RepoFile)}
    assert tree[parquet_path].lfs is not None and tree[parquet_path].lfs.sha256 == sha[parquet_path]
    assert tree[parquet_path].size == tree[parquet_path].lfs.size == len(parquet)
    assert tree[parquet_path].blob_id == git_blob_sha(lfs_pointer(parquet))
    assert tree["meta.json"].lfs is None and tree["meta.json"].blob_id == git_blob_sha(b'{"rows": 2}')
    [info] = api.get_paths_info(repo, ["w.safetensors"], repo_type="dataset")
    assert info.lfs is not None and info.lfs.sha256 == sha["w.safetensors"]

    for path, data in ((parquet_path, parquet), ("w.safetensors", weights)):
        local = Path(api.hf_hub_download(repo, path, repo_type="dataset"))
        assert local.read_bytes() == data and local.resolve().name == sha[path]  # cached under the sha256
        meta = get_hf_file_metadata(hf_hub_url(repo, path, repo_type="dataset"))
        assert (meta.etag, meta.size) == (sha[path], len(data))
    assert load_dataset(repo, split="train").to_list() == rows

    uploads = len(hub.lfs_uploads)
    api.upload_file(path_or_fileobj=weights, path_in_repo="copy.safetensors", repo_id=repo, repo_type="dataset")
    assert len(hub.lfs_uploads) == uploads  # the object is stored already: the batch answer asks for no upload
    assert hub.unhandled == []


def test_lfs_uploads_and_lfs_commits_are_checked(hub: HubServer) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.lfs import UploadInfo, post_lfs_batch_info
    from huggingface_hub.utils import build_hf_headers, get_session

    repo = f"{USER}/lfs-checks"
    HfApi().create_repo(repo)
    data = b"\0weights" * 100
    [action], errors, transfer = post_lfs_batch_info(
        [UploadInfo.from_bytes(data)], token=None, repo_type="model", repo_id=repo
    )
    assert errors == [] and transfer == "basic"
    href = action["actions"]["upload"]["href"]
    assert get_session().put(href, content=data[:-1] + b"!").status_code == 400  # not the announced content
    assert get_session().put(href.split("?")[0] + "?ticket=forged", content=data).status_code == 403

    oid = hashlib.sha256(data).hexdigest()
    lines = [
        {"key": "header", "value": {"summary": "pointer only"}},
        {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(data)}},
    ]
    commit = get_session().post(
        f"{hub.url}/api/models/{repo}/commit/main",
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        headers={**build_hf_headers(token=WRITE_TOKEN), "Content-Type": "application/x-ndjson"},
    )
    assert commit.status_code == 400 and "LFS object not found" in commit.json()["error"]
    assert get_session().put(href, content=data).status_code == 200
    [again], _, _ = post_lfs_batch_info([UploadInfo.from_bytes(data)], token=None, repo_type="model", repo_id=repo)
    assert "actions" not in again  # stored: nothing to upload
    assert HfApi().list_repo_files(repo) == [".gitattributes"]


def _forbidden(call: Callable[[], object]) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as err:
        call()
    assert err.value.response.status_code == 403


def test_fine_grained_tokens(hub: HubServer) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    owner = HfApi(token=WRITE_TOKEN)
    owner.create_repo(FINE_REPO, repo_type="dataset", private=True)
    owner.create_repo(f"{USER}/private-model", private=True)

    access = HfApi(token=FINE_REPO_TOKEN).whoami()["auth"]["accessToken"]
    assert access["role"] == "fineGrained"
    assert access["fineGrained"]["canReadGatedRepos"] is False and access["fineGrained"]["global"] == []
    [scope] = access["fineGrained"]["scoped"]
    assert {k: scope["entity"][k] for k in ("type", "name")} == {"type": "dataset", "name": FINE_REPO}
    assert "_id" in scope["entity"] and "repo.write" in scope["permissions"]

    one_repo = HfApi(token=FINE_REPO_TOKEN)
    one_repo.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=FINE_REPO, repo_type="dataset")
    one_repo.create_branch(FINE_REPO, branch="b", repo_type="dataset")
    one_repo.create_repo(FINE_REPO, repo_type="dataset", exist_ok=True)  # 403 on create, then found
    _forbidden(lambda: one_repo.create_repo(f"{USER}/new-one"))
    with pytest.raises(RepositoryNotFoundError):  # no read on the private model either
        one_repo.repo_info(f"{USER}/private-model")
    other = owner.create_repo(f"{USER}/public-dataset", repo_type="dataset").repo_id
    _forbidden(lambda: one_repo.upload_file(path_or_fileobj=b"1", path_in_repo="a", repo_id=other, repo_type="dataset"))

    namespace = HfApi(token=FINE_WRITE_TOKEN)
    namespace.create_repo(f"{USER}/made-fine")
    namespace.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=f"{USER}/private-model")
    namespace.update_repo_settings(f"{USER}/made-fine", private=True)

    reader = HfApi(token=FINE_READ_TOKEN)
    assert reader.repo_info(f"{USER}/private-model").private
    _forbidden(lambda: reader.upload_file(path_or_fileobj=b"2", path_in_repo="a.txt", repo_id=f"{USER}/private-model"))
    _forbidden(lambda: reader.create_branch(f"{USER}/private-model", branch="b"))
    _forbidden(lambda: reader.delete_branch(FINE_REPO, branch="b", repo_type="dataset"))
    _forbidden(lambda: reader.create_repo(f"{USER}/not-made"))
    _forbidden(lambda: reader.update_repo_settings(f"{USER}/private-model", private=False))
    assert hub.repo(f"{USER}/not-made") is None and hub.unhandled == []


def test_fine_grained_scopes_compare_names_case_insensitively() -> None:
    token = Token(USER, "fineGrained", (fine_scope("dataset", FINE_REPO.upper(), "repo.write"),))
    assert token.may("repo.write", "dataset", FINE_REPO)
    assert not token.may("repo.write", "model", FINE_REPO)  # another repo type
    assert not token.may("repo.content.read", "dataset", FINE_REPO)  # another permission
    assert not token.may("repo.write", "dataset", FINE_REPO, namespace_only=True)
    org = Token(USER, "fineGrained", (fine_scope("org", "Acme", "repo.write"),))
    assert org.may("repo.write", "model", "acme/x") and not org.may("repo.write", "model", f"{USER}/x")
    assert not Token(USER, "read").may("repo.write", "model", f"{USER}/x")
    assert Token(USER, "write").may("repo.write", "model", f"{USER}/x")


def test_validate_yaml_rejects_invalid_metadata_like_the_hub(hub: HubServer) -> None:
    from huggingface_hub import HfApi, ModelCard

    ModelCard(
        "---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\ntags: [a, b]\n---\n"
    ).validate()
    ModelCard("---\nlicense: other\nlicense_name: my-license-1.0\nbase_model: [gpt2, org/m]\n---\n").validate()
    ModelCard("# A card without metadata\n").validate()
    for metadata, message in (
        ("license: not-a-license", '"license" must be one of [apache-2.0, mit, '),
        ("base_model: ./outputs/adapter", '"base_model" with value "./outputs/adapter" is not a valid model id'),
        ("base_model: [org/m, a/b/c]", '"base_model" with value "a/b/c" is not a valid model id'),
        ("base_model: 3", '"base_model" must be a string or an array of strings'),
        ("tags: [1, 2]", '"tags" must be an array of strings'),
    ):
        with pytest.raises(ValueError, match=re.escape(f"- Error: {message}")):
            ModelCard(f"---\n{metadata}\n---\n# Card\n").validate()

    # Metadata that a card cannot hold is caught by the server when the README is committed.
    api, repo = HfApi(), f"{USER}/cards"
    api.create_repo(repo)
    for header, message in (
        ("- a\n- b", '"metadata" must be an object'),
        ("a: [unclosed", "Invalid YAML"),
        ("tags: codelutra", '"tags" must be an array of strings'),  # ModelCardData would make it a list
    ):
        with pytest.raises(ValueError, match=re.escape(f"Invalid metadata in README.md.\n- {message}")):
            api.upload_file(path_or_fileobj=f"---\n{header}\n---\n".encode(), path_in_repo="README.md", repo_id=repo)
    assert api.list_repo_files(repo) == [".gitattributes"]


def test_update_repo_settings_changes_visibility(hub: HubServer) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    api, repo = HfApi(), f"{USER}/settings"
    api.create_repo(repo)
    api.update_repo_settings(repo, private=True)
    assert api.repo_info(repo).private and hub.repo(repo).private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).repo_info(repo)
    with pytest.raises(HfHubHTTPError) as denied:
        HfApi(token=READ_TOKEN).update_repo_settings(repo, private=False)
    assert denied.value.response.status_code == 403
    api.update_repo_settings(repo, visibility="public")
    assert not HfApi(token=False).repo_info(repo).private
    assert hub.unhandled == []
