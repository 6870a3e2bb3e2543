"""The Hub at real scale, on the loopback Hub (tests/hub_server.py): the commit budget of a Spider-size iteration,
API requests that do not grow with the iteration number, and a commit rate limit that costs no work.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import spider_scale
from hub_server import USER, HubServer

from codelutra_nb.config import LoopConfig, load_config
from codelutra_nb.hub import HubStore

MODEL_REPO = f"{USER}/scale-adapters"
DATASET_REPO = f"{USER}/scale-data"


def _cfg(tmp_path: Path, **params) -> LoopConfig:
    return load_config(
        "demo",
        store_dir=str(tmp_path / "store"),
        hub_model_repo=MODEL_REPO,
        hub_dataset_repo=DATASET_REPO,
        **params,
    )


def _commits(hub: HubServer) -> Counter:
    """Commits per repo type, the repos' initial commits left out, checkpoint branches included."""
    return Counter(
        {
            kind: len(hub.repo(repo, kind).commits) - 1 if hub.repo(repo, kind) else 0
            for repo, kind in ((MODEL_REPO, "model"), (DATASET_REPO, "dataset"))
        }
    )


def test_spider_size_iteration_stays_within_the_commit_budget(hub: HubServer, tmp_path: Path) -> None:
    """7,000 questions in shards of 32: 438 shards and every artifact in well under 100 commits per repo."""
    cfg = _cfg(tmp_path)
    spider_scale.run_iteration(cfg, 1)
    commits = _commits(hub)
    assert commits["dataset"] < 100 and commits["model"] < 100, commits
    shards = -(-spider_scale.QUESTIONS // spider_scale.SHARD_SIZE)
    assert commits["dataset"] <= 2 * (shards // cfg.run.hub_shards_per_commit + 1) + 4, commits
    repo = hub.repo(DATASET_REPO, "dataset")
    main = repo.commits[repo.branches["main"]].files
    # Everything arrived: the finished artifacts replaced the shards, the small artifacts came with the last flush.
    assert not any(".shards/" in p for p in main)
    names = ("samples.jsonl", "verdicts.jsonl", "metrics.json", "timings.json")
    assert {f"iter-1/{name}" for name in names} <= set(main)
    assert len([p for p in main if p.startswith("iter-1/notebooks/")]) == len(spider_scale.STAGES)
    assert json.loads(main["iter-1/timings.json"]) == dict.fromkeys(spider_scale.STAGES, 1.0)
    assert main["iter-1/samples.jsonl"] == (tmp_path / "store" / "iter-1" / "samples.jsonl").read_bytes()
    # Shards went 16 to a commit while sampling ran, so a fresh machine could have resumed from them.
    shard_commits = [c.title for c in repo.history(repo.branches["main"]) if "shards" in c.title]
    assert "iter-1: 16 samples shards" in shard_commits and "iter-1: 16 verdicts shards" in shard_commits


def test_waiting_shards_are_pushed_after_push_minutes(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    monkeypatch.setattr(HubStore, "clock", staticmethod(lambda: now[0]))
    store = HubStore(tmp_path / "s", model_repo=None, dataset_repo=DATASET_REPO, shards_per_commit=100, push_minutes=10)
    store.preflight()
    for index, minute in enumerate((1, 4, 11, 12)):  # the third shard comes 11 minutes after the store started
        now[0] = minute * 60.0
        with store.writing_shard(1, "samples", index) as path:
            path.write_text(f"{index}\n")
    repo = hub.repo(DATASET_REPO, "dataset")
    assert [c.title for c in repo.history(repo.branches["main"])][:1] == ["iter-1: 3 samples shards"]
    assert "iter-1/samples.shards/00003.jsonl" not in repo.commits[repo.branches["main"]].files


def test_api_requests_per_iteration_do_not_grow(hub: HubServer, tmp_path: Path) -> None:
    """Iterations 1, 2 and 3 of the same run cost the same requests, up to a small constant."""
    cfg = _cfg(tmp_path)
    counts, seen = [], 0
    for t in (1, 2, 3):
        spider_scale.run_iteration(cfg, t, questions=320)
        counts.append(len(hub.requests) - seen)
        seen = len(hub.requests)
    assert abs(counts[2] - counts[1]) <= 3, counts
    assert counts[2] <= counts[0] + 3, counts  # iteration 1 also evaluates the base model
    whoami = [r for r in hub.requests if "/whoami" in r]
    assert len(whoami) == 1  # asked once for the whole run
    assert hub.unhandled == []


def test_rate_limited_shards_stay_local_and_go_with_a_later_commit(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    now = [1_000_000.0]
    hub.state.clock = lambda: now[0]
    store = HubStore(tmp_path / "s", model_repo=None, dataset_repo=DATASET_REPO, shards_per_commit=1)
    store.preflight()
    hub.limit_commits(2)
    for index in range(4):  # shards 0 and 1 are pushed; 2 and 3 meet the limit and stay local
        with store.writing_shard(1, "samples", index) as path:
            path.write_text(f"{index}\n")
    said = capsys.readouterr().out
    assert "kept in" in said and "rate limit for repository commits (2 per hour)" in said
    assert "goes with the next commit after" in said and "429" in said
    files = hub.repo(DATASET_REPO, "dataset").commits[hub.repo(DATASET_REPO, "dataset").branches["main"]].files
    assert sorted(p for p in files if ".shards/" in p) == [f"iter-1/samples.shards/{i:05d}.jsonl" for i in (0, 1)]
    assert all(store.shard_path(1, "samples", i).exists() for i in range(4))  # no work lost

    now[0] += 3600  # the hour passes: the next push takes everything that waited
    hub.limit_commits(None)
    assert store.flush() == [(1, "2 samples shards")]
    files = hub.repo(DATASET_REPO, "dataset").commits[hub.repo(DATASET_REPO, "dataset").branches["main"]].files
    assert sorted(p for p in files if ".shards/" in p) == [f"iter-1/samples.shards/{i:05d}.jsonl" for i in range(4)]


def test_rate_limited_artifact_does_not_stop_the_stage(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    hub.state.clock = lambda: 1_000_000.0
    store = HubStore(tmp_path / "s", model_repo=None, dataset_repo=DATASET_REPO)
    store.preflight()
    hub.limit_commits(1)
    store.write_json(1, "metrics", {"iteration": 1})  # the one commit of the hour
    with store.writing(1, "verdicts") as path:  # 429: kept, said, no exception
        path.write_text('{"category": "correct"}\n')
    assert "Iteration 1's verdicts kept in" in capsys.readouterr().out
    fresh = HubStore(tmp_path / "fresh", model_repo=None, dataset_repo=DATASET_REPO)
    assert fresh.has(1, "metrics") and not fresh.has(1, "verdicts")
    hub.limit_commits(None)
    HubStore(tmp_path / "s", model_repo=None, dataset_repo=DATASET_REPO).preflight()  # the next preflight syncs
    assert HubStore(tmp_path / "fresh2", model_repo=None, dataset_repo=DATASET_REPO).has(1, "verdicts")
