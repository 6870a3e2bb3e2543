"""Wall time of the demo (`make demo`'s two papermill commands), per stage, against the measured baseline.

    git clone <repo> /tmp/fresh && cd /tmp/fresh && make setup && python benchmarks/demo_time.py

Runs ``papermill notebooks/iterate.ipynb`` for iterations 1 and 2 exactly as ``make demo`` does, into a fresh
store, then prints each stage's seconds (from the store's ``timings.json``), the total wall time, the held-out
numbers of M(0..2), and the ratio to the baseline measured on a fresh clone of main before the speed-ups
(issue #12: 44.6 minutes on the same 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BASELINE_S = 44.6 * 60
BASELINE_STAGES = {1: {"sample": 253, "train": 1275, "evaluate": 22}, 2: {"train": 607}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs"), help="Folder of the executed notebooks.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = Path("runs/demo")
    if store.exists():
        sys.exit(f"{store} exists: run from a fresh clone (or move it away) so every stage really runs.")
    started = time.perf_counter()
    walls = {}
    for t in (1, 2):
        t0 = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "papermill",
            "--engine",
            "codelutra",
            "--no-progress-bar",
            "notebooks/iterate.ipynb",
        ]
        subprocess.run([*command, str(args.out / f"demo-iteration-{t}.ipynb"), "-p", "iteration", str(t)], check=True)
        walls[t] = time.perf_counter() - t0
    total = time.perf_counter() - started
    for t in (0, 1, 2):
        timings = json.loads((store / f"iter-{t}" / "timings.json").read_text())
        metrics = json.loads((store / f"iter-{t}" / "metrics.json").read_text())["eval"]
        stages = ", ".join(
            f"{name} {s:.0f} s" + (f" (was {BASELINE_STAGES[t][name]})" if name in BASELINE_STAGES.get(t, {}) else "")
            for name, s in timings.items()
        )
        unseen = metrics.get("unseen")
        unseen_text = f"; unseen databases {unseen['accuracy']:.1%} / {unseen['executable_rate']:.1%}" if unseen else ""
        wall = f", notebook wall {walls[t]:.0f} s" if t in walls else ""
        print(
            f"M({t}): accuracy {metrics['accuracy']:.1%}, executable {metrics['executable_rate']:.1%} "
            f"(n={metrics['n']}){unseen_text}; stages: {stages}{wall}"
        )
    print(f"total wall {total / 60:.1f} min; baseline {BASELINE_S / 60:.1f} min; speed-up x{BASELINE_S / total:.2f}")


if __name__ == "__main__":
    main()
