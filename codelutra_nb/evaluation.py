"""Stage 5 numbers: execution accuracy (pass@1), executable rate, error breakdown, and their plot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .verdicts import CATEGORIES


def summarize(records: Sequence[dict]) -> dict:
    """``{"accuracy", "executable_rate", "n", "categories"}`` of verified records (one per question)."""
    n = len(records)
    counts = Counter(r["category"] for r in records)
    categories = {c: counts.get(c, 0) for c in CATEGORIES}
    executable = categories["correct"] + categories["wrong_answer"]
    return {
        "accuracy": categories["correct"] / n if n else 0.0,
        "executable_rate": executable / n if n else 0.0,
        "n": n,
        "categories": categories,
    }


def summarize_by(records: Sequence[dict], key: str) -> dict[str, dict]:
    """`summarize` per value of ``key`` (e.g. per database), for records that have it."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r.get(key) is not None:
            groups.setdefault(str(r[key]), []).append(r)
    return {name: summarize(rs) for name, rs in sorted(groups.items())}


def metrics_table(history: Sequence[dict]):
    """One row per iteration: accuracy, executable rate and category counts (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for m in sorted(history, key=lambda m: m["iteration"]):
        e = m["eval"]
        rows.append(
            {
                "iteration": m["iteration"],
                "accuracy": round(e["accuracy"], 4),
                "executable_rate": round(e["executable_rate"], 4),
                "n": e["n"],
                **e["categories"],
            }
        )
    return pd.DataFrame(rows).set_index("iteration") if rows else pd.DataFrame()


def plot_history(history: Sequence[dict], path: Path | None = None):
    """Accuracy and executable rate across iterations, beside the error categories of each iteration."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    table = metrics_table(history)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if not table.empty:
        its = list(table.index)
        left.plot(its, table["accuracy"], marker="o", label="execution accuracy")
        left.plot(its, table["executable_rate"], marker="s", label="executable rate")
        left.set_xticks(its)
        bottom = [0.0] * len(its)
        for category in CATEGORIES:
            share = list(table[category] / table["n"])
            right.bar(its, share, bottom=bottom, label=category)
            bottom = [b + s for b, s in zip(bottom, share)]
        right.set_xticks(its)
    left.set(title="Held-out accuracy", xlabel="iteration (0 = base model)", ylim=(0, 1.02))
    left.legend(loc="lower right")
    right.set(title="Outcome of each held-out answer", xlabel="iteration", ylabel="share", ylim=(0, 1.02))
    right.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
