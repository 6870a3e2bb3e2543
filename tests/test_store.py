import pytest

from codelutra_nb.errors import StoreError
from codelutra_nb.store import LocalStore


def test_artifact_appears_only_when_complete(tmp_path):
    store = LocalStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.writing(1, "samples") as path:
            path.write_text("half")
            raise RuntimeError("crash mid-write")
    assert not store.has(1, "samples") and not list(store.iteration_dir(1).glob("*.partial"))
    with store.writing(1, "samples") as path:
        path.write_text("whole\n")
    assert store.fetch(1, "samples").read_text() == "whole\n"


def test_shards_and_json(tmp_path):
    store = LocalStore(tmp_path)
    with store.writing_shard(2, "samples", 3) as path:
        path.write_text("{}\n")
    assert store.has_shard(2, "samples", 3) and not store.has_shard(2, "samples", 0)
    store.write_json(0, "metrics", {"iteration": 0})
    store.write_json(2, "metrics", {"iteration": 2})
    assert store.read_json(2, "metrics") == {"iteration": 2} and store.iterations_with("metrics") == [0, 2]


def test_missing_artifact_says_how_to_make_it(tmp_path):
    with pytest.raises(StoreError, match=r"Iteration 3 has no 'adapter'.*-p iteration 3"):
        LocalStore(tmp_path).fetch(3, "adapter")
    with pytest.raises(StoreError, match="Unknown artifact"):
        LocalStore(tmp_path).path(1, "weights")


def test_shards_of_the_old_local_layout_are_moved_on_preflight(tmp_path):
    old = tmp_path / "iter-1" / "samples.jsonl.shards"
    old.mkdir(parents=True)
    (old / "00000.jsonl").write_text('{"task_id": "1"}\n')
    store = LocalStore(tmp_path)
    assert not store.has_shard(1, "samples", 0)
    store.preflight()
    assert store.has_shard(1, "samples", 0) and not old.exists()
    assert store.shard_path(1, "samples", 0) == tmp_path / "iter-1" / "samples.shards" / "00000.jsonl"
    assert store.join_shards(1, "samples", 1) == [{"task_id": "1"}]
    old.mkdir()
    with pytest.raises(StoreError, match="both samples.jsonl.shards .* and samples.shards; delete one"):
        store.preflight()
