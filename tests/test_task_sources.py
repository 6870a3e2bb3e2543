"""Task sources: ``hub:DATASET[:CONFIG]:SPLIT`` against the loopback Hub (tests/hub_server.py), with the real
`huggingface_hub` and `datasets` clients; the presets' sources are ones a fresh clone has."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import USER, HubServer, configure_clients, forget_clients, hub_environment

from codelutra_nb.config import PARAMS_DIR, TaskParams, VerifyParams, load_config
from codelutra_nb.errors import TaskDataError
from codelutra_nb.kinds import load_tasks, verify_candidates
from codelutra_nb.kinds.python.tasks import load_python_tasks
from codelutra_nb.kinds.sources import HubSource, parse_hub_source

REPO = Path(__file__).resolve().parents[1]
MBPP_REPO = f"{USER}/mbpp-mini"
HUMANEVAL_REPO = f"{USER}/humaneval-mini"
OTHER_REPO = f"{USER}/not-tasks"


def _mbpp(task_id: int, n: int) -> dict:
    return {
        "task_id": task_id,
        "text": f"Write a function to add {n} to a number.",
        "code": f"def add_{n}(x):\r\n    return x + {n}",
        "test_list": [f"assert add_{n}(1) == {1 + n}", f"assert add_{n}(0) == {n}"],
        "test_setup_code": "",
        "challenge_test_list": [],
    }


MBPP_CONFIGS = {  # config -> split -> records, as google-research-datasets/mbpp lays them out
    "full": {"train": [_mbpp(601, 1), _mbpp(602, 2)], "test": [_mbpp(11, 3), _mbpp(12, 4), _mbpp(13, 5)]},
    "sanitized": {
        "test": [
            {
                "source_file": "x.py",
                "task_id": 2,
                "prompt": "Write a function to floor a number.",
                "code": "import math\ndef floor(x):\n    return math.floor(x)",
                "test_imports": ["import math"],
                "test_list": ["assert floor(1.5) == math.floor(1.5)"],
            }
        ]
    },
}
MBPP_CARD = """---
configs:
- config_name: full
  default: true
  data_files:
  - split: train
    path: full/train-*
  - split: test
    path: full/test-*
- config_name: sanitized
  data_files:
  - split: test
    path: sanitized/test-*
---
"""
HUMANEVAL_RECORDS = [  # as openai/openai_humaneval: one config, split "test" named by the file
    {
        "task_id": f"HumanEval/{i}",
        "prompt": f'def inc_{i}(x: int) -> int:\n    """Add {i}."""\n',
        "canonical_solution": f"    return x + {i}\n",
        "test": f"\n\ndef check(candidate):\n    assert candidate(1) == {1 + i}\n",
        "entry_point": f"inc_{i}",
    }
    for i in range(2)
]


def _push(server: HubServer, tmp: Path, repo_id: str, files: dict[str, list[dict] | str]) -> None:
    """Create dataset repo ``repo_id`` with parquet files (from records) and text files, in one commit."""
    from datasets import Dataset
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=server.url)
    api.create_repo(repo_id, repo_type="dataset", private=False)
    operations = []
    for path, content in files.items():
        if isinstance(content, str):
            operations.append(CommitOperationAdd(path, content.encode()))
            continue
        local = tmp / repo_id / path
        local.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_list(content).to_parquet(str(local))
        operations.append(CommitOperationAdd(path, str(local)))
    api.create_commit(repo_id, operations, commit_message="data", repo_type="dataset")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A loopback Hub holding an MBPP-layout, a HumanEval-layout and a non-task dataset repo."""
    tmp = tmp_path_factory.mktemp("hub-sources")
    with HubServer() as hub, pytest.MonkeyPatch.context() as mp:
        configure_clients(mp, hub.url, tmp / "publisher-home")
        mbpp_files: dict[str, list[dict] | str] = {
            f"{config}/{split}-00000-of-00001.parquet": records
            for config, splits in MBPP_CONFIGS.items()
            for split, records in splits.items()
        }
        _push(hub, tmp, MBPP_REPO, {**mbpp_files, "README.md": MBPP_CARD})
        _push(hub, tmp, HUMANEVAL_REPO, {"openai_humaneval/test-00000-of-00001.parquet": HUMANEVAL_RECORDS})
        _push(hub, tmp, OTHER_REPO, {"data/train-00000-of-00001.parquet": [{"question": "q", "answer": "a"}]})
        forget_clients(hub.url)
        yield hub


@pytest.fixture
def hub(server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The loopback Hub, with the clients pointed at it and an empty cache (a fresh machine) for this test."""
    configure_clients(monkeypatch, server.url, tmp_path / "hf_home")
    yield server
    forget_clients(server.url)
    assert server.unhandled == []


# --- parsing -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("hub:google-research-datasets/mbpp:full:test", HubSource("google-research-datasets/mbpp", "full", "test")),
        ("hub:openai/openai_humaneval:test", HubSource("openai/openai_humaneval", None, "test")),
        ("hub:mbpp:sanitized:train", HubSource("mbpp", "sanitized", "train")),
        ("hub:me/my.tasks-v2:validation", HubSource("me/my.tasks-v2", None, "validation")),
    ],
)
def test_hub_sources_parse_and_print_back(source, expected):
    assert parse_hub_source(source) == expected
    assert str(expected) == source


@pytest.mark.parametrize("source", ["mbpp", "humaneval", "demo-sql/train", "data/hub:x.jsonl", "tasks/mbpp.jsonl"])
def test_other_sources_are_not_hub_sources(source):
    assert parse_hub_source(source) is None


@pytest.mark.parametrize(
    "source",
    [
        "hub:",
        "hub:google-research-datasets/mbpp",  # no split
        "hub:google-research-datasets/mbpp:full:test:extra",
        "hub:google-research-datasets/mbpp:full:test[:10]",  # a split slice
        "hub:a/b/c:test",
        "hub:/mbpp:test",
        "hub:mbpp::test",
        "hub: mbpp:test",
    ],
)
def test_malformed_hub_sources_say_the_syntax(source):
    with pytest.raises(TaskDataError) as err:
        load_python_tasks(source)
    message = str(err.value)
    assert repr(source) in message and "'hub:DATASET[:CONFIG]:SPLIT'" in message and "the split is required" in message
    assert "train_ids" in message  # how to take a subset instead of a slice


# --- loading from the loopback Hub ---------------------------------------------------------------------------------


def test_mbpp_layout_from_a_config_and_split(hub: HubServer, tmp_path: Path):
    tasks = load_python_tasks(f"hub:{MBPP_REPO}:full:test")
    assert [t.task_id for t in tasks] == ["11", "12", "13"]
    first = tasks[0]
    assert (first.kind, first.layout, first.question, first.reference) == (
        "python",
        "mbpp",
        "Write a function to add 3 to a number.",
        "def add_3(x):\r\n    return x + 3",
    )
    assert first.tests == "assert add_3(1) == 4\nassert add_3(0) == 3"
    # the local copy the records were read from: its folder is hidden from sandboxed candidates
    assert first.source is not None and Path(first.source).is_file()
    assert Path(first.source).is_relative_to(tmp_path / "hf_home")
    assert [t.task_id for t in load_python_tasks(f"hub:{MBPP_REPO}:full:train")] == ["601", "602"]


def test_default_config_when_none_is_named(hub: HubServer):
    assert [t.task_id for t in load_python_tasks(f"hub:{MBPP_REPO}:test")] == ["11", "12", "13"]


def test_sanitized_mbpp_config(hub: HubServer):
    (task,) = load_python_tasks(f"hub:{MBPP_REPO}:sanitized:test")
    assert (task.task_id, task.layout, task.question, task.setup) == (
        "2",
        "mbpp",
        "Write a function to floor a number.",
        "import math",
    )


def test_humaneval_layout_without_config(hub: HubServer):
    tasks = load_python_tasks(f"hub:{HUMANEVAL_REPO}:test")
    assert [(t.task_id, t.layout, t.entry_point) for t in tasks] == [
        ("HumanEval/0", "humaneval", "inc_0"),
        ("HumanEval/1", "humaneval", "inc_1"),
    ]
    assert tasks[1].reference == HUMANEVAL_RECORDS[1]["prompt"] + HUMANEVAL_RECORDS[1]["canonical_solution"]


def test_hub_tasks_through_the_kind_with_ids_and_their_references_pass(hub: HubServer):
    params = TaskParams(task_kind="python", eval_tasks=f"hub:{MBPP_REPO}:full:test", eval_ids="12-13")
    tasks = load_tasks(params, "eval")
    assert list(tasks) == ["12", "13"]
    candidates = [(tid, f"```python\n{task.reference}\n```") for tid, task in tasks.items()]
    verdicts = verify_candidates(tasks, candidates, VerifyParams(exec_timeout_s=5.0, workers=1), progress=False)
    assert [v.correct for v in verdicts] == [True, True], [v.message for v in verdicts]


@pytest.mark.parametrize(
    "source, expected",
    [
        (f"hub:{USER}/missing:test", r"doesn't exist on the Hub.*Check the dataset id.*HF_TOKEN"),
        (f"hub:{MBPP_REPO}:nope:test", r"BuilderConfig 'nope' not found\. Available: \['full', 'sanitized'\]"),
        (f"hub:{MBPP_REPO}:full:nope", r"Unknown split \"nope\"\. Should be one of \['train', 'test'\]"),
        (f"hub:{HUMANEVAL_REPO}:train", r"Unknown split \"train\"\. Should be one of \['test'\]"),
    ],
)
def test_missing_dataset_config_or_split_is_named(hub: HubServer, source, expected):
    with pytest.raises(TaskDataError, match=expected) as err:
        load_python_tasks(source)
    assert str(err.value).startswith(f"Task source {source!r}: ")


def test_records_of_no_known_layout_name_the_source(hub: HubServer):
    source = f"hub:{OTHER_REPO}:train"
    with pytest.raises(TaskDataError, match=rf"^{source}, record 0 fits no known layout"):
        load_python_tasks(source)


def _load_in_subprocess(hub: HubServer, home: Path, source: str) -> subprocess.CompletedProcess:
    """``load_python_tasks(source)`` in a new interpreter with HF_HUB_OFFLINE=1, as a user who sets it would run."""
    env = {**os.environ, **hub_environment(hub.url, home), "HF_HUB_OFFLINE": "1"}
    code = (
        "import sys\n"
        "from codelutra_nb.kinds.python.tasks import load_python_tasks\n"
        "from codelutra_nb.errors import TaskDataError\n"
        "try:\n"
        f"    print(len(load_python_tasks({source!r})))\n"
        "except TaskDataError as exc:\n"
        "    sys.exit(str(exc))\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_offline_mode_reads_the_cache_and_says_how_to_fix_a_miss(hub: HubServer, tmp_path: Path):
    source = f"hub:{MBPP_REPO}:full:test"
    load_python_tasks(source)  # online: now in the cache under tmp_path / "hf_home"
    cached = _load_in_subprocess(hub, tmp_path / "hf_home", source)
    assert (cached.returncode, cached.stdout.strip()) == (0, "3"), cached.stderr
    missing = _load_in_subprocess(hub, tmp_path / "empty_home", source)
    assert missing.returncode == 1
    assert f"Task source {source!r}: Couldn't reach" in missing.stderr
    assert "HF_HUB_OFFLINE is set and this split is not in the datasets cache. Unset HF_HUB_OFFLINE" in missing.stderr


# --- presets -------------------------------------------------------------------------------------------------------


def test_no_preset_names_the_dev_machines_shared_folder():
    files = sorted(PARAMS_DIR.iterdir())
    assert files
    offending = [f.name for f in files if "shared/" in f.read_text(encoding="utf-8")]
    assert offending == [], f"presets must name data a fresh clone has, not ../shared: {offending}"


@pytest.mark.parametrize(
    "preset", sorted(p.stem for p in PARAMS_DIR.glob("*.yaml") if "task_kind: python" in p.read_text())
)
def test_python_presets_load_their_tasks(preset):
    params = load_config(preset).tasks
    if any(str(source).startswith("hub:") for source in (params.train_tasks, params.eval_tasks)):
        pytest.skip(f"{preset} loads its tasks from the Hub, which this machine cannot reach")
    assert load_tasks(params, "train") and load_tasks(params, "eval")
