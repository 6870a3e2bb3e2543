"""Seconds per iteration of the notebook chain with one kernel per stage notebook vs one kernel per iteration.

    python benchmarks/chain_overhead.py [--iterations 2] [--repeats 1] 2>/dev/null

Runs `codelutra_nb.chain` (what notebooks/iterate.ipynb runs) on the tests' tiny random model (tests/conftest.py:
two layers, the demo preset shrunk), so the stages' own work is small and the difference between the two modes is
what starting a kernel and importing the package per notebook costs. Each mode gets a fresh store; the modes
alternate per repeat. Prints the seconds of each iteration per mode, the ratio, and whether both modes produced the
same metrics and training losses. The stage kernels draw their progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import MODEL_CACHE, TINY_PARAMS, make_tiny_model  # noqa: E402

from codelutra_nb.chain import _run_notebooks  # noqa: E402
from codelutra_nb.config import load_config  # noqa: E402
from codelutra_nb.models import embedded_model_dir  # noqa: E402

MODES = {"kernel per stage": True, "kernel per iteration": False}


def run(model: Path, store: Path, iterations: int, kernel_per_stage: bool) -> list[float]:
    """Seconds of iterations 1..``iterations`` into a fresh ``store``."""
    seconds = []
    for t in range(1, iterations + 1):
        cfg = load_config("demo", base_model=str(model), store_dir=str(store), iteration=t, **TINY_PARAMS)
        started = time.perf_counter()
        _run_notebooks(cfg, kernel_per_stage=kernel_per_stage)
        seconds.append(time.perf_counter() - started)
    return seconds


def results(store: Path, iterations: int) -> list:
    """What the run produced, for comparing the modes: held-out metrics and training losses per iteration."""
    out = []
    for t in range(1, iterations + 1):
        metrics = json.loads((store / f"iter-{t}" / "metrics.json").read_text())
        out.append((metrics["eval"]["accuracy"], metrics["eval"]["categories"], metrics["train"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny_model(Path(tmp) / "tiny-model", embedded_model_dir(MODEL_CACHE))
        seconds: dict[str, list[list[float]]] = {mode: [] for mode in MODES}
        produced: dict[str, list] = {}
        for repeat in range(args.repeats):
            for mode, per_stage in MODES.items():
                store = Path(tmp) / f"store-{repeat}-{per_stage}"
                seconds[mode].append(run(model, store, args.iterations, per_stage))
                produced.setdefault(mode, results(store, args.iterations))
    print(f"\nchain of stage notebooks, tiny model, {args.repeats} repeat(s), median seconds:")
    medians = {
        mode: [statistics.median(r[i] for r in runs) for i in range(args.iterations)] for mode, runs in seconds.items()
    }
    for mode, per_iteration in medians.items():
        text = ", ".join(f"iteration {t}: {s:.1f} s" for t, s in enumerate(per_iteration, 1))
        print(f"  {mode:22s} {text}")
    per_stage, shared = (medians[mode] for mode in MODES)
    for t, (a, b) in enumerate(zip(per_stage, shared), 1):
        print(f"  iteration {t}: one kernel per stage / one per iteration = {a / b:.2f}x ({a - b:.1f} s saved)")
    same = produced["kernel per stage"] == produced["kernel per iteration"]
    print(f"  same metrics and training losses in both modes: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
