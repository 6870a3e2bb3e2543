"""HubStore against the loopback Hub (tests/hub_server.py), with the real huggingface_hub, datasets and peft clients.

One module-scoped scenario pushes iterations 0-2 from one machine, deletes that machine's folder and HF cache, and
the tests read everything back as a fresh machine would; the error tests each get their own server.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hub_server import READ_TOKEN, USER, HubServer, closed_port_url, configure_clients, forget_clients
from micro_model import micro_llama

from codelutra_nb.config import load_config
from codelutra_nb.errors import StoreError
from codelutra_nb.hub import HubStore
from codelutra_nb.store import LocalStore, open_store

MODEL_REPO = f"{USER}/codelutra-adapters"
DATASET_REPO = f"{USER}/codelutra-data"
ITERATIONS = (1, 2)


def _lora_config():
    from peft import LoraConfig

    return LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)


def _save_adapter(path: Path, iteration: int) -> dict:
    """A LoRA adapter on the tiny model whose weights differ per iteration; returns its LoRA tensors."""
    import torch
    from peft import get_peft_model

    model = get_peft_model(micro_llama(), _lora_config())
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                ramp = torch.arange(param.numel()).view_as(param) * 1e-3
                param.copy_(torch.full_like(param, 0.01 * iteration) + ramp)
    model.save_pretrained(path)
    (path / "training_log.json").write_text(json.dumps({"iteration": iteration, "loss": [1.0, 0.5]}))
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def _preferences(iteration: int):
    from datasets import Dataset

    rows = []
    for i in range(3):
        prompt = [{"role": "user", "content": f"Question {i} of iteration {iteration}: how many singers?"}]
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": f"SELECT count(*) FROM singer -- {iteration}.{i}"}],
                "rejected": [{"role": "assistant", "content": f"SELECT count(*) FROM singers -- {iteration}.{i}"}],
                "task_id": f"spider-{i}",
                "iteration": iteration,
                "rejected_category": "runtime_error",
            }
        )
    return Dataset.from_list(rows)


def _metrics(iteration: int) -> dict:
    correct = 3 + iteration
    return {
        "iteration": iteration,
        "eval": {
            "accuracy": correct / 10,
            "executable_rate": (correct + 2) / 10,
            "n": 10,
            "categories": {
                "correct": correct,
                "wrong_answer": 2,
                "runtime_error": 5 - iteration,
                "syntax_error": 0,
                "timeout": 0,
            },
        },
    }


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _new_store(root: Path, **kwargs) -> HubStore:
    return HubStore(
        root, model_repo=MODEL_REPO, dataset_repo=DATASET_REPO, params=load_config("demo").to_dict(), **kwargs
    )


@dataclass
class Pushed:
    server: HubServer
    store: HubStore  # the "fresh machine": empty folder, empty HF cache
    hashes: dict[str, str]  # sha256 of every file the first machine wrote, by path under its root
    weights: dict[int, dict]
    preferences: dict[int, list[dict]]


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    tmp = tmp_path_factory.mktemp("hub-scenario")
    with HubServer() as server, pytest.MonkeyPatch.context() as mp:
        configure_clients(mp, server.url, tmp / "hf-home-first-machine")
        store = _new_store(tmp / "first-machine", shards_per_commit=2)
        store.preflight()
        store.write_json(0, "metrics", _metrics(0))
        weights, preferences = {}, {}
        for t in ITERATIONS:
            for index in range(2):
                with store.writing_shard(t, "samples", index) as tmp_shard:
                    tmp_shard.write_text(json.dumps({"shard": index, "iteration": t}) + "\n")
            with store.writing(t, "samples") as out:
                out.write_text("".join(json.dumps({"task_id": f"spider-{i}", "t": t}) + "\n" for i in range(4)))
            with store.writing(t, "verdicts") as out:
                out.write_text(
                    "".join(json.dumps({"task_id": f"spider-{i}", "category": "correct"}) + "\n" for i in range(4))
                )
            with store.writing(t, "preferences") as out:
                ds = _preferences(t)
                ds.save_to_disk(str(out))
                (out / "pairing_stats.json").write_text(json.dumps({"pairs": len(ds)}))
                preferences[t] = ds.to_list()
            with store.writing(t, "adapter") as out:
                weights[t] = _save_adapter(out, t)
            store.write_json(t, "metrics", _metrics(t))
            with store.writing(t, "notebooks") as out:
                (out / "sub").mkdir(parents=True)
                (out / "iterate.ipynb").write_text(json.dumps({"cells": [], "metadata": {"t": t}}))
                (out / "sub" / "log.txt").write_text(f"iteration {t}\n")
        store.flush()  # what waited for a commit: the notebooks (the chain's last step)
        hashes = _hashes(store.root)
        shutil.rmtree(store.root)

        configure_clients(mp, server.url, tmp / "hf-home-fresh-machine")
        yield Pushed(server, _new_store(tmp / "fresh-machine"), hashes, weights, preferences)
        forget_clients(server.url)


def test_artifacts_are_on_the_hub_and_pulled_back_byte_identical(pushed: Pushed) -> None:
    store = pushed.store
    for t in ITERATIONS:
        for artifact in ("samples", "verdicts", "preferences", "adapter", "metrics", "notebooks"):
            assert not store.path(t, artifact).exists()
            assert store.has(t, artifact), (t, artifact)
            store.fetch(t, artifact)
    assert store.has(0, "metrics") and not store.has(0, "adapter") and not store.has(3, "samples")
    store.fetch(0, "metrics")
    pulled = {p: h for p, h in _hashes(store.root).items() if not p.startswith(".hub-")}
    # The adapter's README.md on the Hub is the model card, so PEFT's placeholder card is not pulled back; the
    # adapter config names the base model by its Hub id instead of the first machine's folder; the store's own
    # records (.hub-versions.json, .hub-store.json) and best pointer (made from the metrics by each) stay local.
    expected = {
        p: h
        for p, h in pushed.hashes.items()
        if ".shards/" not in p
        and not p.endswith(("adapter/README.md", "adapter_config.json"))
        and p[0] != "."
        and p != "best.json"
    }
    assert {p: h for p, h in pulled.items() if not p.endswith("adapter_config.json")} == expected
    for t in ITERATIONS:
        config = json.loads((store.path(t, "adapter") / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_shards_pushed_together_and_dropped_with_the_artifact(pushed: Pushed) -> None:
    repo = pushed.server.repo(DATASET_REPO, "dataset")
    history = repo.history(repo.branches["main"])
    shard_commits = [c for c in history if c.title == "iter-1: 2 samples shards"]
    assert len(shard_commits) == 1  # shards_per_commit=2: both shards in one commit
    shards = {"iter-1/samples.shards/00000.jsonl", "iter-1/samples.shards/00001.jsonl"}
    assert shards <= set(shard_commits[0].files)
    assert shard_commits[0].files["iter-1/samples.shards/00001.jsonl"] == b'{"shard": 1, "iteration": 1}\n'
    # The finished artifact's commit removes them: they were only a point to resume from.
    done = next(c for c in history if c.title.startswith("iter-1: samples"))
    assert "iter-1/samples.jsonl" in done.files and not shards & set(done.files)
    assert not pushed.store.has_shard(1, "samples", 1)


def test_each_artifact_in_one_commit_small_ones_batched(pushed: Pushed) -> None:
    repo = pushed.server.repo(DATASET_REPO, "dataset")
    titles = [c.title for c in repo.history(repo.branches["main"])]
    for t in ITERATIONS:
        for artifact in ("samples", "verdicts", "preferences", "metrics", "notebooks"):
            pushed_in = [x for x in titles if re.search(rf"(^|; )iter-{t}: [^;]*\b{artifact}\b(?! shard)", x)]
            assert len(pushed_in) == 1, (t, artifact, titles)
    # 2 iterations x (shards, samples, verdicts, preferences, metrics) + iteration 0's metrics + the last flush
    assert len(titles) == 1 + 2 * 5 + 1 + 1, titles
    model = pushed.server.repo(MODEL_REPO)
    # branch best comes from the merged metrics (iteration 2 scores best), at the very commit of branch iter-2
    assert sorted(model.branches) == ["best", "iter-1", "iter-2", "main"]
    assert model.branches["best"] == model.branches["iter-2"]
    assert [c.title for c in model.history(model.branches["iter-2"])] == ["iter-2: adapter", "initial commit"]
    assert model.private and repo.private


def test_iterations_with_lists_hub_iterations(pushed: Pushed) -> None:
    assert pushed.store.iterations_with("metrics") == [0, 1, 2]
    assert pushed.store.iterations_with("adapter") == [1, 2]
    assert pushed.store.iterations_with("preferences") == [1, 2]


def test_load_dataset_per_iteration_config(pushed: Pushed) -> None:
    from datasets import load_dataset

    for t in ITERATIONS:
        ds = load_dataset(DATASET_REPO, f"iter-{t}", split="train")
        assert ds.to_list() == pushed.preferences[t]
        assert ds[0]["chosen"][0]["role"] == "assistant"


def test_peft_loads_each_iteration_from_its_branch(pushed: Pushed) -> None:
    import torch
    from peft import PeftModel

    for revision, t in (("iter-1", 1), ("iter-2", 2), ("main", 2)):
        model = PeftModel.from_pretrained(micro_llama(), MODEL_REPO, revision=revision)
        state = {k: v for k, v in model.state_dict().items() if "lora_" in k}
        assert state.keys() == pushed.weights[t].keys()
        for key, value in pushed.weights[t].items():
            torch.testing.assert_close(state[key], value)


def test_model_card_on_main_has_metrics_of_every_iteration(pushed: Pushed) -> None:
    from huggingface_hub import DatasetCard, ModelCard

    card = ModelCard.load(MODEL_REPO)
    assert card.data.library_name == "peft"
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert {"codelutra", "dpo", "lora", "trl"} <= set(card.data.tags)
    rows = [line for line in card.text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["0", "1", "2"]
    assert "| 2 | `iter-2` | 50.0% | 70.0% | 10 | 5 | 2 | 3 | 0 | 0 |" in card.text
    assert 'revision="iter-2"' in card.text and "`beta`" in card.text
    # The card grew: the one committed with iteration 1's adapter had no row for iteration 1 yet.
    repo = pushed.server.repo(MODEL_REPO)
    branch_card = repo.commits[repo.branches["iter-1"]].files["README.md"].decode()
    assert "| 0 | base model |" in branch_card and "| 1 | `iter-1` |" not in branch_card

    data_card = DatasetCard.load(DATASET_REPO, repo_type="dataset")
    configs = {c["config_name"]: c for c in data_card.data.configs}
    assert configs["iter-1"]["data_files"] == [{"split": "train", "path": "iter-1/preferences/*.parquet"}]
    assert configs["iter-2"].get("default") is True


def test_clients_used_only_implemented_endpoints(pushed: Pushed) -> None:
    assert pushed.server.unhandled == []


# -- errors ----------------------------------------------------------------------------------------------------------


def test_preflight_without_token_says_how_to_log_in(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(StoreError, match=r"No Hugging Face token.*HF_TOKEN.*login\(\).*notebook_login"):
        _new_store(tmp_path / "s").preflight()


def test_preflight_with_bad_token(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match=r"`token` argument is invalid or expired \(401"):
        _new_store(tmp_path / "s", token="hf_not_a_real_token").preflight()
    monkeypatch.setenv("HF_TOKEN", "hf_expired")
    with pytest.raises(StoreError, match=r"HF_TOKEN environment variable is invalid"):
        _new_store(tmp_path / "s").preflight()


def test_read_only_token_is_caught_before_work_and_on_push(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_store(tmp_path / "writer").preflight()  # repos exist, made with the write token
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    reader = _new_store(tmp_path / "reader")
    with pytest.raises(StoreError, match=rf"role 'read'.*cannot write to the model repo {MODEL_REPO}"):
        reader.preflight()
    with pytest.raises(StoreError, match=r"complete in the local store.*403.*may not write"):
        reader.write_json(1, "metrics", _metrics(1))
    assert reader.path(1, "metrics").exists()


def test_missing_repos_are_created_private(hub: HubServer, tmp_path: Path) -> None:
    assert hub.repo(MODEL_REPO) is None and hub.repo(DATASET_REPO, "dataset") is None
    me = _new_store(tmp_path / "s").preflight()
    assert me["name"] == USER
    assert hub.repo(MODEL_REPO).private and hub.repo(DATASET_REPO, "dataset").private
    HubStore(tmp_path / "p", model_repo=f"{USER}/public-adapters", dataset_repo=None, private=False).preflight()
    assert not hub.repo(f"{USER}/public-adapters").private


def test_endpoint_down_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_url()
    configure_clients(monkeypatch, url, tmp_path / "hf-home")
    start = time.monotonic()
    with pytest.raises(
        StoreError,
        match=rf"Cannot reach the Hugging Face Hub at {url}.*network is down or "
        r"HF_ENDPOINT",
    ):
        _new_store(tmp_path / "s").preflight()
    assert time.monotonic() - start < 5


def test_missing_iteration_names_it_and_how_to_make_it(hub: HubServer, tmp_path: Path) -> None:
    store = _new_store(tmp_path / "s")
    store.preflight()
    assert not store.has(1, "adapter")
    with pytest.raises(StoreError, match=r"Iteration 1 has no 'adapter'.*model repo .*branch iter-1.*-p iteration 1"):
        store.fetch(1, "adapter")
    with pytest.raises(StoreError, match=r"Iteration 4 has no 'samples'.*iter-4/samples.jsonl"):
        store.fetch(4, "samples")


def test_push_that_failed_is_synced_by_next_preflight(hub: HubServer, tmp_path: Path) -> None:
    root = tmp_path / "s"
    down = _new_store(root, endpoint=closed_port_url())
    with (
        pytest.raises(StoreError, match=r"complete in the local store.*Cannot reach.*preflight"),
        down.writing(1, "verdicts") as out,
    ):
        out.write_text('{"category": "correct"}\n')
    up = _new_store(root)
    up.preflight()
    fresh = _new_store(tmp_path / "fresh")
    assert fresh.has(1, "verdicts")
    assert fresh.fetch(1, "verdicts").read_text() == '{"category": "correct"}\n'


def test_open_store_picks_hub_store_only_with_a_repo(tmp_path: Path) -> None:
    local = open_store(load_config("demo", store_dir=str(tmp_path / "a")), check=False)
    assert type(local) is LocalStore
    hub_store = open_store(
        load_config("demo", store_dir=str(tmp_path / "b"), hub_dataset_repo=DATASET_REPO, hub_private=False),
        check=False,
    )
    assert isinstance(hub_store, HubStore) and hub_store.dataset_repo == DATASET_REPO and not hub_store.private
    assert hub_store.model_repo is None and hub_store.root == tmp_path / "b"
    with pytest.raises(StoreError, match="namespace/name"):
        HubStore(tmp_path, model_repo="no-namespace", dataset_repo=None)


# -- training checkpoints pushed by the Trainer ----------------------------------------------------------------------


def _word_tokenizer():
    """A 64-word tokenizer with a chat template, built in memory (nothing to download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "<unk>", *(f"w{i}" for i in range(60))])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return tokenizer


def _dpo_trainer(store: HubStore, output_dir: Path, max_steps: int):
    from datasets import Dataset
    from peft import get_peft_model
    from trl import DPOConfig, DPOTrainer

    from codelutra_nb.training import _without_peft_card

    rows = [
        {
            "prompt": [{"role": "user", "content": f"w{i} w{i + 1}"}],
            "chosen": [{"role": "assistant", "content": f"w{i + 2}"}],
            "rejected": [{"role": "assistant", "content": f"w{i + 3}"}],
        }
        for i in range(16)
    ]
    args = DPOConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=2,
        save_steps=2,
        save_strategy="steps",
        save_total_limit=1,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        max_length=32,
        learning_rate=1e-2,
        disable_tqdm=True,
    )
    return _without_peft_card(DPOTrainer)(  # as in training: PEFT's card in a checkpoint has metadata the Hub refuses
        model=get_peft_model(micro_llama(), _lora_config()),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=_word_tokenizer(),
        callbacks=store.trainer_callbacks(1),
    )


def test_trainer_checkpoints_resume_on_fresh_machine(hub: HubServer, tmp_path: Path) -> None:
    first = _new_store(tmp_path / "first")
    first.preflight()
    _dpo_trainer(first, tmp_path / "first" / "checkpoints", max_steps=4).train()
    model = hub.repo(MODEL_REPO)
    assert "last-checkpoint/trainer_state.json" in model.commits[model.branches["iter-1-checkpoints"]].files
    assert not first.has(1, "adapter")  # checkpoints are never mistaken for the finished adapter

    fresh = _new_store(tmp_path / "fresh")
    assert fresh.pull_trainer_checkpoint(2, tmp_path / "none") is None
    # Outside the Trainer's output_dir, where the Trainer keeps and rotates its own checkpoints.
    checkpoint = fresh.pull_trainer_checkpoint(1, tmp_path / "fresh" / "hub-checkpoint")
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 4
    trainer = _dpo_trainer(fresh, tmp_path / "fresh" / "checkpoints", max_steps=6)
    trainer.train(resume_from_checkpoint=str(checkpoint))
    steps = [h["step"] for h in trainer.state.log_history if "loss" in h]
    assert steps == [1, 2, 3, 4, 5, 6]  # 1-4 restored from the Hub, 5-6 trained here
    files = hub.repo(MODEL_REPO).commits[hub.repo(MODEL_REPO).branches["iter-1-checkpoints"]].files
    assert json.loads(files["last-checkpoint/trainer_state.json"])["global_step"] == 6

    with pytest.raises(StoreError, match="publish the adapter first"):
        fresh.drop_trainer_checkpoints(1)
    with fresh.writing(1, "adapter") as out:
        trainer.model.save_pretrained(str(out))
    fresh.drop_trainer_checkpoints(1)
    assert "iter-1-checkpoints" not in hub.repo(MODEL_REPO).branches
    assert fresh.pull_trainer_checkpoint(1, tmp_path / "gone") is None
    assert hub.unhandled == []


def test_a_failed_write_pushes_nothing(hub: HubServer, tmp_path: Path) -> None:
    store = _new_store(tmp_path / "s")
    store.preflight()
    commits = len(hub.repo(DATASET_REPO, "dataset").commits)
    with pytest.raises(RuntimeError, match="sampler crashed"), store.writing(1, "samples") as out:
        out.write_text('{"half": "written"}\n')
        raise RuntimeError("sampler crashed")
    assert len(hub.repo(DATASET_REPO, "dataset").commits) == commits
    assert not store.has(1, "samples")


def test_stand_in_answers_like_the_hub(hub: HubServer) -> None:
    """The error codes and headers the clients rely on, seen through the real HfApi."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi()
    repo = f"{USER}/probe"
    api.create_repo(repo)
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo)
    assert conflict.value.response.status_code == 409
    first = api.upload_file(path_or_fileobj=b"one", path_in_repo="a/x.txt", repo_id=repo).oid
    second = api.upload_file(path_or_fileobj=b"two", path_in_repo="a/x.txt", repo_id=repo).oid
    assert first != second and [c.commit_id for c in api.list_repo_commits(repo)][:2] == [second, first]
    assert Path(api.hf_hub_download(repo, "a/x.txt", revision=first)).read_bytes() == b"one"
    with pytest.raises(RevisionNotFoundError):
        api.hf_hub_download(repo, "a/x.txt", revision="no-such-branch")
    with pytest.raises(RemoteEntryNotFoundError):
        api.hf_hub_download(repo, "a/missing.txt")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"{USER}/no-such-repo")
    api.delete_file("a/x.txt", repo)
    assert api.list_repo_files(repo) == [".gitattributes"]
    with pytest.raises(HfHubHTTPError) as unauthorized:
        HfApi(token="hf_unknown").model_info(repo)
    assert unauthorized.value.response.status_code == 401
    assert hub.unhandled == []


def test_notebooks_published_from_two_machines_add_up(hub: HubServer, tmp_path: Path) -> None:
    first = _new_store(tmp_path / "first")
    folder = first.iteration_dir(1) / "notebooks"
    folder.mkdir(parents=True)
    (folder / "01_sample.ipynb").write_text("{}")
    first.publish(1, "notebooks")
    first.flush()
    fresh = _new_store(tmp_path / "fresh")  # resumes at the next stage on another machine
    folder = fresh.iteration_dir(1) / "notebooks"
    folder.mkdir(parents=True)
    (folder / "02_verify.ipynb").write_text("{}")
    fresh.publish(1, "notebooks")
    fresh.flush()
    files = hub.repo(DATASET_REPO, "dataset").commits[hub.repo(DATASET_REPO, "dataset").branches["main"]].files
    assert {"iter-1/notebooks/01_sample.ipynb", "iter-1/notebooks/02_verify.ipynb"} <= set(files)


def test_republished_preferences_leave_no_stale_parquet(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import load_dataset

    import codelutra_nb.hub as hub_module

    monkeypatch.setattr(hub_module, "MAX_PARQUET_SHARD_BYTES", 1)  # one parquet file per row
    store = _new_store(tmp_path / "s")
    for rows in (3, 1):  # a rerun with --force that makes fewer pairs
        with store.writing(1, "preferences") as out:
            _preferences(1).select(range(rows)).save_to_disk(str(out))
        repo = hub.repo(DATASET_REPO, "dataset")
        parquet = [p for p in repo.commits[repo.branches["main"]].files if p.endswith(".parquet")]
        assert len(parquet) == rows
    assert len(load_dataset(DATASET_REPO, "iter-1", split="train")) == 1
