"""Every method of the family through the notebooks on the embedded default, side by side; prints the compare tables.

    python benchmarks/method_family.py --out runs/family [--iterations 2] [--methods codelutra plum ...]
        [--preset demo_python] [--set KEY=VALUE ...]

Each method runs ``papermill notebooks/iterate.ipynb`` (what users and ``make demo`` run, the Makefile's engine)
for iterations 1..N in its own store ``OUT/<method>``: the SQL methods on the ``demo`` preset, plum and dstc on
``demo_python``; ``--set`` scales both down. Wall time and CPU time (user + system of the whole process tree) are
recorded per method and iteration; a method that stops (e.g. no training rows at this scale) is recorded with its
error and the next one runs. The base model's evaluation (iteration 0) is computed once per preset and copied to
the other methods' stores (its record names no method, so each store takes it as its own). Writes
``OUT/family.json`` and ``OUT/family.md`` (the `codelutra_nb.compare` table with 95% intervals, the paired
comparisons, and the times).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from codelutra_nb.compare import load_runs, paired_comparisons
from codelutra_nb.config import parse_assignments
from codelutra_nb.methods import METHODS

REPO = Path(__file__).resolve().parent.parent

PRESET = {"plum": "demo_python", "dstc": "demo_python"}
"""Each method's preset unless ``--preset`` names one for all (plum and dstc run on Python tasks only)."""


def preset_of(method: str, preset: str | None) -> str:
    return preset or PRESET.get(method, "demo")


def run_iteration(method: str, iteration: int, store: Path, assignments: list[str], preset: str | None) -> dict:
    (command,) = re.findall(r"^PAPERMILL = (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    argv = shlex.split(command.replace("$(PYTHON)", shlex.quote(sys.executable)))
    params = parse_assignments(assignments) | {"method": method, "store_dir": str(store)}
    out = store.parent / f"{method}-iteration-{iteration}.ipynb"
    argv += ["notebooks/iterate.ipynb", str(out), "-p", "preset", preset_of(method, preset)]
    argv += ["-p", "iteration", str(iteration), "-y", f"params: {json.dumps(params)}"]
    before, started = os.times(), time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    (store.parent / f"{method}-{iteration}.log").write_text(done.stdout + done.stderr)
    error = [line for line in done.stderr.splitlines() if re.match(r"\w*(Error|Exception):", line)]
    return {
        "method": method,
        "iteration": iteration,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(cpu, 1),
        "ok": done.returncode == 0,
        "error": error[-1] if error else (None if done.returncode == 0 else done.stderr[-500:]),
    }


def share_baseline(out: Path, method: str, preset: str | None) -> None:
    """Give ``method``'s store the base model's evaluation (iteration 0) of a method on the same preset, if one has
    it: the same model, held-out set and seed give the same answers, so it is computed once per preset."""
    store = out / method
    if (store / "iter-0").exists():
        return
    for other in sorted(out.iterdir()):
        if other != store and preset_of(other.name, preset) == preset_of(method, preset):
            if (other / "iter-0" / "metrics.json").exists():
                shutil.copytree(other / "iter-0", store / "iter-0", ignore=shutil.ignore_patterns("notebooks"))
                return


def markdown(table) -> str:
    rows = [list(map(str, table.columns))] + [[str(v) for v in row] for row in table.itertuples(index=False)]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows[:1] + [["---"] * len(rows[0])] + rows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=sorted(METHODS))
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--preset", help="One preset for every method (e.g. demo_python: the SQL methods on MBPP too).")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "family.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    for method in args.methods:
        for iteration in range(1, args.iterations + 1):
            if any(r["method"] == method and r["iteration"] == iteration and r["ok"] for r in results):
                continue
            share_baseline(args.out, method, args.preset)
            result = run_iteration(method, iteration, (args.out / method).resolve(), args.assignments, args.preset)
            results.append(result)
            results_file.write_text(json.dumps(results, indent=1))
            print(json.dumps(result), flush=True)
            if not result["ok"]:
                break
    stores = [args.out / m for m in args.methods if (args.out / m / "iter-0" / "metrics.json").exists()]
    table = load_runs(stores) if stores else None
    by_preset: dict[str, list[Path]] = {}
    for store in stores:  # only runs on the same held-out questions can be paired
        by_preset.setdefault(preset_of(store.name, args.preset), []).append(store)
    paired = "\n\n".join(
        f"Paired comparisons on the {preset} preset's held-out questions:\n\n{markdown(paired_comparisons(runs))}"
        for preset, runs in by_preset.items()
    )
    times = "\n".join(
        f"| {r['method']} | {r['iteration']} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['error'] or 'ok'} |"
        for r in results
    )
    report = (
        (markdown(table) if table is not None else "(no run evaluated)")
        + f"\n\n{paired}"
        + ("\n\n| method | iteration | wall s | CPU s | outcome |\n|---|---|---|---|---|\n" + times + "\n")
    )
    (args.out / "family.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
