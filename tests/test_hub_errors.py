"""What the Hub store says when the Hub refuses, and what it refuses to do itself, on the loopback Hub
(tests/hub_server.py): the Hub's own words with a hint per status, uploads through LFS, privacy, fine-grained tokens,
``base_model`` checked before any card. The last test runs against the real Hub, only when asked to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path

import pytest
from hub_server import (
    FINE_READ_TOKEN,
    FINE_REPO,
    FINE_REPO_TOKEN,
    FINE_WRITE_TOKEN,
    USER,
    WRITE_TOKEN,
    HubServer,
)

from codelutra_nb.errors import StoreError
from codelutra_nb.hub import HubStore, _can_write

MODEL_REPO = f"{USER}/errors-adapters"
DATASET_REPO = f"{USER}/errors-data"


def _store(root: Path, **kwargs) -> HubStore:
    kwargs = {"model_repo": MODEL_REPO, "dataset_repo": DATASET_REPO, **kwargs}
    return HubStore(root, **kwargs)


def _adapter(path: Path, value: float) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    save_file({"lora_A": np.full((4, 4), value, dtype=np.float32)}, str(path / "adapter_model.safetensors"))


# -- the Hub's own words ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "said", "hint"),
    [
        (401, "Invalid credentials in Authorization header", r"token is missing, invalid or expired.*HF_TOKEN"),
        (403, "You don't have write access to this repo", rf"may not write to the dataset repo {DATASET_REPO}"),
        (404, "Branch main was deleted", r"does not exist or the token cannot see it.*preflight"),
        (409, "A commit is already in progress", r"conflicts with what the dataset repo"),
        (412, "Parent commit abc is not the head of main", r"moved while this commit was prepared.*one writer"),
        (500, "Internal Error", r"trouble answering: retry later"),
    ],
)
def test_refused_commit_names_the_artifact_in_the_hubs_words(
    hub: HubServer, tmp_path: Path, status: int, said: str, hint: str
) -> None:
    store = _store(tmp_path / "s", model_repo=None)
    store.preflight()
    # a 412 is looked at again and retried (tests/test_hub_versions.py); it is refused only when it keeps coming
    hub.fail("POST", rf"/api/datasets/{DATASET_REPO}/commit/main", status, said, times=3 if status == 412 else 1)
    with pytest.raises(StoreError) as refused:
        store.write_json(1, "metrics", {"iteration": 1})
    message = str(refused.value)
    assert message.startswith("Iteration 1's 'metrics' is complete in the local store")
    assert f"({status}): {said}." in message, message  # the reason, not "(Request ID: ...)"
    assert f"metrics to dataset repo {DATASET_REPO}@main" in message
    assert "Request ID: " in message  # to quote to the Hub's support
    assert re.search(hint, message), message
    assert store.path(1, "metrics").exists()
    store.preflight()  # the next preflight pushes it
    assert HubStore(tmp_path / "fresh", model_repo=None, dataset_repo=DATASET_REPO).has(1, "metrics")


def test_rate_limit_says_when_to_retry(hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = _store(tmp_path / "s", model_repo=None)
    store.preflight()
    hub.fail(
        "POST",
        r"/commit/main",
        429,
        "You have exceeded our rate limit for repository commits (128 per hour).",
        headers={"Retry-After": "120", "RateLimit": '"commits";r=0;t=120'},
    )
    store.write_json(1, "metrics", {"iteration": 1})
    said = capsys.readouterr().out
    assert "(429): You have exceeded our rate limit for repository commits (128 per hour)." in said
    assert "accepts requests again in 120 s (at " in said and "kept in" in said


def test_upload_failure_of_the_lfs_path_is_a_store_error(hub: HubServer, tmp_path: Path) -> None:
    from datasets import Dataset

    store = _store(tmp_path / "s", model_repo=None)
    store.preflight()
    hub.fail("PUT", r"/lfs-upload/", 400, "The object's bytes did not match", times=10)
    with pytest.raises(
        StoreError,
        match=r"Iteration 1's 'preferences' is complete in the local store.*failed \(RuntimeError\).*"
        r"\(400\): The object's bytes did not match",
    ):
        with store.writing(1, "preferences") as out:
            Dataset.from_list([{"prompt": "p", "chosen": "c", "rejected": "r"}]).save_to_disk(str(out))


# -- uploads go through LFS like on the Hub --------------------------------------------------------------------------


def test_parquet_and_safetensors_go_through_lfs(hub: HubServer, tmp_path: Path) -> None:
    from datasets import Dataset

    store = _store(tmp_path / "s")
    store.preflight()
    with store.writing(1, "preferences") as out:
        Dataset.from_list([{"prompt": f"p{i}", "chosen": "c", "rejected": "r"} for i in range(5)]).save_to_disk(
            str(out)
        )
    with store.writing(1, "adapter") as out:
        _adapter(out, 1.0)
    store.write_json(1, "metrics", {"iteration": 1, "eval": {"accuracy": 0.5, "executable_rate": 1.0, "n": 2}})

    data = hub.repo(DATASET_REPO, "dataset")
    head = data.commits[data.branches["main"]]
    parquet = "iter-1/preferences/train-00000-of-00001.parquet"
    assert parquet in head.lfs and "iter-1/metrics.json" not in head.lfs
    model = hub.repo(MODEL_REPO)
    assert "adapter_model.safetensors" in model.commits[model.branches["iter-1"]].lfs
    weights = (store.path(1, "adapter") / "adapter_model.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() in hub.lfs_uploads
    assert hashlib.sha256(head.files[parquet]).hexdigest() in hub.lfs_uploads

    fresh = _store(tmp_path / "fresh")  # comes back byte for byte
    assert (fresh.fetch(1, "adapter") / "adapter_model.safetensors").read_bytes() == weights
    assert fresh.fetch(1, "preferences").is_dir()
    # The store knows an LFS file by its sha256: an unchanged folder is not pushed again.
    commits = len(data.commits)
    assert fresh.sync() == [] and len(data.commits) == commits
    assert hub.unhandled == []


# -- privacy and permissions -----------------------------------------------------------------------------------------


def test_existing_public_repo_is_refused_unless_allowed(hub: HubServer, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    HfApi().create_repo(DATASET_REPO, repo_type="dataset", private=False)
    with pytest.raises(StoreError, match=rf"dataset repo {DATASET_REPO} exists and is public.*hub_allow_public: true"):
        _store(tmp_path / "s").preflight()
    assert len(hub.repo(DATASET_REPO, "dataset").commits) == 1  # nothing published
    _store(tmp_path / "s", allow_public=True).preflight()
    _store(tmp_path / "s", private=False).preflight()
    HfApi().update_repo_settings(DATASET_REPO, private=True, repo_type="dataset")  # the fix the message gives
    _store(tmp_path / "s").preflight()


@pytest.mark.parametrize(
    ("token", "repos", "refused"),
    [
        (FINE_WRITE_TOKEN, {"model_repo": MODEL_REPO, "dataset_repo": DATASET_REPO}, None),
        (FINE_READ_TOKEN, {"model_repo": None, "dataset_repo": DATASET_REPO}, f"dataset repo {DATASET_REPO}"),
        (FINE_REPO_TOKEN, {"model_repo": None, "dataset_repo": FINE_REPO}, None),
        (FINE_REPO_TOKEN, {"model_repo": FINE_REPO, "dataset_repo": None}, f"model repo {FINE_REPO}"),
        (FINE_REPO_TOKEN, {"model_repo": None, "dataset_repo": DATASET_REPO}, f"dataset repo {DATASET_REPO}"),
    ],
)
def test_fine_grained_tokens_are_checked_per_repo(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, repos: dict, refused: str | None
) -> None:
    from huggingface_hub import HfApi

    HfApi(token=WRITE_TOKEN).create_repo(FINE_REPO, repo_type="dataset", private=True)
    monkeypatch.setenv("HF_TOKEN", token)
    store = HubStore(tmp_path / "s", **repos)
    if refused is None:
        store.preflight()
        store.write_json(1, "metrics", {"iteration": 1})  # the Hub lets it write, too
        return
    with pytest.raises(StoreError, match=rf"role 'fineGrained'.*cannot write to the {refused}.*'repo.write'"):
        store.preflight()


def test_fine_grained_scopes_compare_names_case_insensitively_and_per_repo_type() -> None:
    def me(*scopes: tuple[str, str]) -> dict:
        scoped = [{"entity": {"type": kind, "name": name}, "permissions": ["repo.write"]} for kind, name in scopes]
        return {"auth": {"accessToken": {"role": "fineGrained", "fineGrained": {"scoped": scoped}}}}

    assert _can_write(me(("user", "Alice")), "alice/data", "dataset")
    assert _can_write(me(("org", "my-org")), "My-Org/adapters", "model")
    assert _can_write(me(("dataset", "Alice/Data")), "alice/data", "dataset")
    assert not _can_write(me(("dataset", "alice/data")), "alice/data", "model")
    assert not _can_write(me(("model", "alice/other")), "alice/data", "model")
    assert not _can_write(me(("user", "bob")), "alice/data", "dataset")
    read_only = {"auth": {"accessToken": {"role": "fineGrained", "fineGrained": {"scoped": [
        {"entity": {"type": "user", "name": "alice"}, "permissions": ["repo.content.read"]}
    ]}}}}  # fmt: skip
    assert not _can_write(read_only, "alice/data", "dataset")


# -- base_model ------------------------------------------------------------------------------------------------------


def test_base_model_is_checked_as_a_hub_id_before_any_card(hub: HubServer, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    with pytest.raises(StoreError, match=r"base_model='codelutra-tester/no-such-model' is not a model on the Hub"):
        _store(tmp_path / "s", base_model="codelutra-tester/no-such-model").preflight()
    assert hub.repo(MODEL_REPO) is None  # refused before anything was created or written

    HfApi().create_repo(f"{USER}/real-base", private=False)
    store = _store(tmp_path / "s", base_model=f"{USER}/real-base")
    store.preflight()
    with store.writing(1, "adapter") as out:
        _adapter(out, 1.0)
    card = hub.repo(MODEL_REPO).commits[hub.repo(MODEL_REPO).branches["main"]].files["README.md"].decode()
    assert f"base_model: {USER}/real-base" in card
    _store(tmp_path / "local", base_model=str(tmp_path)).preflight()  # a local folder is not looked up


# -- the real Hub, when asked ----------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (os.environ.get("HF_TOKEN") and os.environ.get("CODELUTRA_HUB_SMOKE")),
    reason="talks to the real Hub: set HF_TOKEN (write) and CODELUTRA_HUB_SMOKE=<namespace> to run it",
)
def test_smoke_one_tiny_iteration_on_the_real_hub(tmp_path: Path) -> None:
    """Push and load back one tiny iteration in throwaway private repos, then delete them."""
    from datasets import Dataset, load_dataset
    from huggingface_hub import HfApi

    namespace, run = os.environ["CODELUTRA_HUB_SMOKE"], uuid.uuid4().hex[:8]
    model_repo, dataset_repo = f"{namespace}/codelutra-smoke-{run}", f"{namespace}/codelutra-smoke-data-{run}"
    api = HfApi(endpoint="https://huggingface.co")
    store = HubStore(tmp_path / "s", model_repo=model_repo, dataset_repo=dataset_repo, endpoint=api.endpoint)
    try:
        store.preflight()
        for index in range(2):
            with store.writing_shard(1, "samples", index) as path:
                path.write_text(json.dumps({"shard": index}) + "\n")
        with store.writing(1, "samples") as path:
            path.write_text('{"shard": 0}\n{"shard": 1}\n')
        rows = [{"prompt": "q", "chosen": "SELECT 1", "rejected": "SELEC 1"}]
        with store.writing(1, "preferences") as out:
            Dataset.from_list(rows).save_to_disk(str(out))
        with store.writing(1, "adapter") as out:
            _adapter(out, 1.0)
        store.write_json(1, "metrics", {"iteration": 1, "eval": {"accuracy": 0.5, "executable_rate": 1.0, "n": 2}})
        store.flush()
        fresh = HubStore(tmp_path / "fresh", model_repo=model_repo, dataset_repo=dataset_repo, endpoint=api.endpoint)
        assert fresh.fetch(1, "samples").read_text() == '{"shard": 0}\n{"shard": 1}\n'
        assert fresh.fetch(1, "adapter").joinpath("adapter_config.json").exists()
        assert load_dataset(dataset_repo, "iter-1", split="train").to_list() == rows
        assert api.repo_info(model_repo).private and api.repo_info(dataset_repo, repo_type="dataset").private
    finally:
        api.delete_repo(model_repo, missing_ok=True)
        api.delete_repo(dataset_repo, repo_type="dataset", missing_ok=True)
