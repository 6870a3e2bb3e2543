"""Candidates per second: the zygote sandbox against one fresh ``python`` process per candidate.

    python benchmarks/verify_python.py [--limit N] [--workers W] [--timeout S]

Candidates are the MBPP reference solutions of ``../shared/data/mbpp/mbpp.jsonl`` (974, all correct).
Both designs run them on this machine in one run, with the same number of parallel workers:

- sandbox: `verify_python` (forks each candidate from a warm zygote; the tests run in the worker's long-lived judge
  process, MBPP's being read from a task file; full isolation when root);
- baseline: for each candidate a temp dir, the program plus its tests in one file (so, unlike the sandbox, a program
  can cheat its verdict there), and
  ``subprocess.run([sys.executable, file])`` with the same rlimits (CPU, address space, file size,
  open files, core, processes), timeout and environment, then the temp dir removed.

The program printed last is the ratio of the two rates. Note that the baseline pays this interpreter's
start-up, ``site`` and its ``.pth`` files included (printed too), for every candidate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codelutra_nb.kinds.python.sandbox import isolation_report, verify_python  # noqa: E402
from codelutra_nb.kinds.python.tasks import (  # noqa: E402
    PythonTask,
    check_code,
    load_python_tasks,
    program_for,
)
from codelutra_nb.kinds.python.zygote import apply_rlimits, sandbox_env  # noqa: E402
from codelutra_nb.verdicts import Category, Verdict  # noqa: E402

MBPP = REPO.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
NONCE = "benchmark-all-tests-passed"


def baseline(
    tasks: dict[str, PythonTask], candidates: list[tuple[str, str]], timeout_s: float, memory_mb: int, workers: int
) -> list[Verdict]:
    """One fresh interpreter per candidate, with the sandbox's rlimits, timeout and environment."""

    def limits() -> None:
        os.setsid()
        apply_rlimits(timeout_s, memory_mb)

    def one(candidate: tuple[str, str]) -> Verdict:
        task = tasks[candidate[0]]
        program = program_for(task, candidate[1])
        workdir = tempfile.mkdtemp(prefix="codelutra-baseline-")
        try:
            path = os.path.join(workdir, "candidate.py")
            with open(path, "w") as f:
                f.write(f"{program}\n{check_code(task, program)}\nprint({NONCE!r})\n")
            try:
                proc = subprocess.run(
                    [sys.executable, path],
                    cwd=workdir,
                    capture_output=True,
                    timeout=timeout_s,
                    preexec_fn=limits,
                    env=sandbox_env({"HOME": workdir, "TMPDIR": workdir}),
                )
            except subprocess.TimeoutExpired:
                return Verdict(Category.TIMEOUT, f"timed out after {timeout_s:g} s")
            if proc.returncode == 0 and proc.stdout.rstrip().endswith(NONCE.encode()):
                return Verdict(Category.CORRECT)
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            return Verdict(Category.WRONG_ANSWER if last.startswith("AssertionError") else Category.RUNTIME_ERROR, last)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, candidates))


def startup_ms(*flags: str, n: int = 10) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, *flags, "-c", "pass"], check=True)
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N MBPP problems (default: all 974).")
    parser.add_argument("--workers", type=int, default=None, help="Parallel workers for both (default: one per core).")
    parser.add_argument("--timeout", type=float, default=5.0, help="Seconds per program (default 5).")
    parser.add_argument("--memory-mb", type=int, default=1024)
    args = parser.parse_args()
    if not MBPP.exists():
        sys.exit(
            f"{MBPP} not found: ../shared/data/mbpp (beside the checkout) holds the MBPP file this benchmark reads."
        )
    tasks = {t.task_id: t for t in load_python_tasks(str(MBPP))}
    candidates = [(tid, task.reference) for tid, task in tasks.items()][: args.limit]
    workers = args.workers or len(os.sched_getaffinity(0))
    print(
        f"{len(candidates)} MBPP reference solutions, {workers} workers, timeout {args.timeout:g} s, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"sandbox isolation here: {isolation_report()}")
    print(f"interpreter start-up: python -c pass {startup_ms():.0f} ms, python -S -c pass {startup_ms('-S'):.0f} ms")

    start = time.perf_counter()
    ours = verify_python(
        tasks, candidates, timeout_s=args.timeout, memory_mb=args.memory_mb, workers=workers, progress=False
    )
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    base = baseline(tasks, candidates, args.timeout, args.memory_mb, workers)
    base_s = time.perf_counter() - start

    ours_rate, base_rate = len(candidates) / ours_s, len(candidates) / base_s
    print(f"sandbox : {ours_rate:8.1f} candidates/s ({ours_s:.1f} s, {sum(v.correct for v in ours)} correct)")
    print(f"baseline: {base_rate:8.1f} candidates/s ({base_s:.1f} s, {sum(v.correct for v in base)} correct)")
    print(f"ratio   : {ours_rate / base_rate:8.1f}x")
    differ = [(tid, a, b) for (tid, _), a, b in zip(candidates, ours, base) if a.category != b.category]
    if differ:
        print(f"verdicts differ on {len(differ)}: {differ[:5]}")


if __name__ == "__main__":
    main()
