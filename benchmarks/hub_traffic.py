"""Commits and API requests per iteration that a run on the Hub makes: the demo, and a simulated Spider-size run.

    python benchmarks/hub_traffic.py [--iterations 3] [--skip-demo] 2>/dev/null

Both runs go to the loopback Hub of the tests (tests/hub_server.py), which counts every request and keeps every
commit; nothing reaches the real Hub.

- **demo**: `codelutra_nb.chain` (what notebooks/iterate.ipynb runs: a preflight, then one stage notebook after the
  other in one kernel) on the demo preset with the tests' tiny random model, so the artifacts have the demo's counts
  (64 training questions per iteration, shards of 32 questions, 101 held-out questions; 2 samples per question
  and 8 new tokens, the tests' settings) in seconds.
- **spider**: the store calls of one iteration at Spider scale without a model (tests/spider_scale.py): 7,000 training
  questions in shards of 32 (219 shards of samples and 219 of verdicts), then every artifact the stages write, each
  stage with its own store as each stage notebook opens one. No clock passes, so only the shard count batches shards.

Prints, per run and iteration, the commits per repo (checkpoint branches included) and the API requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pytest  # noqa: E402
import spider_scale  # noqa: E402
from conftest import MODEL_CACHE, TINY_PARAMS, make_tiny_model  # noqa: E402
from hub_server import USER, HubServer, configure_clients  # noqa: E402

from codelutra_nb.config import load_config  # noqa: E402

MODEL_REPO, DATASET_REPO = f"{USER}/traffic-adapters", f"{USER}/traffic-data"


class Meter:
    """Commits per repo and API requests since the last `take`."""

    def __init__(self, server: HubServer):
        self.server = server
        self.requests, self.commits = 0, Counter()

    def _commits(self) -> Counter:
        out = Counter()
        for repo_id, repo_type in ((MODEL_REPO, "model"), (DATASET_REPO, "dataset")):
            repo = self.server.repo(repo_id, repo_type)
            out[repo_type] = len(repo.commits) - 1 if repo else 0  # the repo's initial commit is not ours
        return out

    def take(self) -> tuple[dict, int]:
        commits, requests = self._commits(), len(self.server.requests)
        delta = ({k: commits[k] - self.commits[k] for k in ("dataset", "model")}, requests - self.requests)
        self.commits, self.requests = commits, requests
        return delta


def demo(server: HubServer, tmp: Path, iterations: int) -> list[tuple[int, dict, int]]:
    from codelutra_nb.chain import run_notebooks
    from codelutra_nb.models import embedded_model_dir

    model = make_tiny_model(tmp / "tiny-model", embedded_model_dir(MODEL_CACHE))
    tiny = {k: v for k, v in TINY_PARAMS.items() if k not in ("train_limit", "eval_limit", "pairs_per_task")}
    meter, rows = Meter(server), []
    for t in range(1, iterations + 1):
        cfg = load_config(
            "demo",
            base_model=str(model),
            store_dir=str(tmp / "demo-store"),
            iteration=t,
            hub_model_repo=MODEL_REPO,
            hub_dataset_repo=DATASET_REPO,
            **tiny,
        )
        run_notebooks(cfg)
        rows.append((t, *meter.take()))
    return rows


def spider(server: HubServer, tmp: Path, iterations: int) -> list[tuple[int, dict, int]]:
    cfg = load_config(
        "demo", store_dir=str(tmp / "spider-store"), hub_model_repo=MODEL_REPO, hub_dataset_repo=DATASET_REPO
    )
    meter, rows = Meter(server), []
    for t in range(1, iterations + 1):
        spider_scale.run_iteration(cfg, t)
        rows.append((t, *meter.take()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        for name, run in (("spider (simulated)", spider), ("demo (tiny model)", demo)):
            if name.startswith("demo") and args.skip_demo:
                continue
            with HubServer() as server:
                configure_clients(mp, server.url, Path(tmp) / f"hf-home-{name.split()[0]}")
                for t, commits, requests in run(server, Path(tmp) / name.split()[0], args.iterations):
                    print(
                        f"{name:20} iteration {t}: commits dataset {commits['dataset']:4d}, "
                        f"model {commits['model']:3d}; API requests {requests:5d}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
