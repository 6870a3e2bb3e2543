"""Time to pull the program out of a huge raw completion: linear in its length, for SQL and Python.

    python benchmarks/extraction.py [--sizes 1 10]

For each size (MB) it times `program_for` (Python: code followed by prose, the case that is cut at the
parser's error line) and `extract_sql` (a query followed by prose with no statement end) on completions
of that size, called directly, without the verifier's cap of 100,000 characters. It prints seconds per
size and the ratio of each size to the first: about the size ratio when the work is linear (10x for
1 MB vs 10 MB), its square when quadratic.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codelutra_nb.kinds.python.tasks import PythonTask, program_for  # noqa: E402
from codelutra_nb.kinds.sql.extraction import extract_sql  # noqa: E402

PROSE = "This explains the idea in words, step by step.\n"


def seconds(fn, text: str) -> float:
    started = time.perf_counter()
    fn(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10], help="completion sizes in MB")
    args = parser.parse_args()
    task = PythonTask(task_id="t", question="?", tests="assert f(1) == 1")
    cases = {
        "python program_for": lambda text: program_for(task, "def f(x):\n    return x\n" + text),
        "sql extract_sql": lambda text: extract_sql("SELECT name\nFROM t WHERE a = 1\n" + text.replace("\n", " ")),
    }
    for name, fn in cases.items():
        times = [seconds(fn, PROSE * int(size * 2**20 / len(PROSE))) for size in args.sizes]
        cells = ", ".join(f"{size:g} MB {t:.3f} s (x{t / times[0]:.1f})" for size, t in zip(args.sizes, times))
        print(f"{name:20s} {cells}")


if __name__ == "__main__":
    main()
