"""How much the demo's held-out numbers move with the evaluation's random draws alone (T 0.2), per seed.

    python benchmarks/eval_spread.py [--adapter runs/demo/iter-2/adapter] [--seeds 0 1 2 3 4] [--sampler auto]

Evaluates one model (the embedded base, or base + ``--adapter``) on the demo's 101 held-out questions once per
seed, with the demo's evaluation settings and ``--sampler`` (the demo's: auto), and prints correct and executable
answers per seed, and their range: a gap between two runs of the demo smaller than this range is noise of the draws,
not a change of the model.
"""

from __future__ import annotations

import argparse
import tempfile

from codelutra_nb.evaluation import evaluate_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="M(t)'s adapter folder; none: M(0), the base model.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sampler", default="auto", help="auto (vLLM where it starts), vllm or transformers.")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            e = evaluate_model(out, adapter=args.adapter, seed=seed, sampler=args.sampler)["eval"]
        rows.append((seed, e["categories"]["correct"], round(e["executable_rate"] * e["n"]), e["n"]))
        print(f"seed {seed}: correct {rows[-1][1]}/{e['n']}, executable {rows[-1][2]}/{e['n']}", flush=True)
    for column, name in ((1, "correct"), (2, "executable")):
        low, high = min(row[column] for row in rows), max(row[column] for row in rows)
        print(f"{name}: {low}-{high} of {rows[0][3]} over {len(rows)} seeds (range {high - low})")


if __name__ == "__main__":
    main()
