"""Comparing runs: the table and plot of codelutra_nb.compare, from store folders and the Hub, and compare.ipynb."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from hub_server import USER, serving

from codelutra_nb.compare import load_runs, plot_runs
from codelutra_nb.errors import StoreError
from codelutra_nb.hub import HubStore
from codelutra_nb.store import LocalStore

CATEGORIES = ("correct", "wrong_answer", "runtime_error", "syntax_error", "timeout")


def _metrics(t: int, method: str, counts: tuple[int, ...], rows: dict | None) -> dict:
    n = sum(counts)
    metrics = {
        "iteration": t,
        "eval": {
            "accuracy": counts[0] / n,
            "executable_rate": (counts[0] + counts[1]) / n,
            "n": n,
            "categories": dict(zip(CATEGORIES, counts)),
        },
        "eval_by_database": {},
        "timings_s": {"evaluate": 1.0},
        "config": {"method": method, "iteration": t},
    }
    if rows is not None:
        metrics |= {"train": {"steps": 2}, "pairing": {"stage": "pair", "iteration": t, **rows}}
    return metrics


def _write_run(store: LocalStore, method: str, iterations: dict[int, tuple[tuple[int, ...], dict | None]]) -> None:
    for t, (counts, rows) in iterations.items():
        store.write_json(t, "metrics", _metrics(t, method, counts, rows))


@pytest.fixture
def two_runs(tmp_path: Path) -> list[Path]:
    """Run a: codelutra, iterations 0-2 (``pairing.rows``); run b: sft, iterations 0-1 (older ``pairing.pairs``)."""
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    _write_run(
        LocalStore(a),
        "codelutra",
        {0: ((1, 4, 3, 2, 0), None), 1: ((3, 5, 2, 0, 0), {"rows": 16}), 2: ((4, 5, 1, 0, 0), {"rows": 12})},
    )
    _write_run(LocalStore(b), "sft", {1: ((2, 2, 2, 2, 2), {"pairs": 8}), 0: ((0, 2, 3, 5, 0), None)})
    return [a, b]


def test_one_row_per_run_and_iteration_with_its_numbers(two_runs):
    table = load_runs(two_runs)
    a, b = map(str, two_runs)
    assert list(zip(table["run"], table["iteration"])) == [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1)]
    assert list(table["method"]) == ["codelutra"] * 3 + ["sft"] * 2
    assert list(table["accuracy"]) == [0.1, 0.3, 0.4, 0.0, 0.2]
    assert list(table["executable_rate"]) == [0.5, 0.8, 0.9, 0.2, 0.4]
    assert list(table["n"]) == [10] * 5
    assert table.loc[1, list(CATEGORIES)].tolist() == [3, 5, 2, 0, 0]
    assert table.loc[3, list(CATEGORIES)].tolist() == [0, 2, 3, 5, 0]
    assert table["train_rows"].tolist() == [pd.NA, 16, 12, pd.NA, 8]


def test_plot_has_one_line_per_run_in_each_panel(two_runs):
    fig = plot_runs(load_runs(two_runs))
    accuracy, executable = fig.axes
    a, b = map(str, two_runs)
    for ax, column in ((accuracy, "accuracy"), (executable, "executable_rate")):
        assert [line.get_label() for line in ax.get_lines()] == [f"{a} (codelutra)", f"{b} (sft)"]
        assert list(ax.get_lines()[0].get_ydata()) == list(load_runs(two_runs[:1])[column])
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == [f"{a} (codelutra)", f"{b} (sft)"]


def test_a_run_on_the_hub_reads_like_a_folder(two_runs, tmp_path, monkeypatch):
    repo = f"{USER}/compare-data"
    with serving(tmp_path, monkeypatch):
        pushed = HubStore(tmp_path / "pushing", model_repo=None, dataset_repo=repo)
        for t in LocalStore(two_runs[0]).iterations_with("metrics"):
            pushed.write_json(t, "metrics", LocalStore(two_runs[0]).read_json(t, "metrics"))
        table = load_runs([repo, two_runs[1]])
        with pytest.raises(StoreError, match=f"Run '{USER}/no-such-repo' has no evaluated iteration.*or on the Hub"):
            load_runs([f"{USER}/no-such-repo"])
    expected = load_runs(two_runs)
    expected["run"] = expected["run"].replace(str(two_runs[0]), repo)
    pd.testing.assert_frame_equal(table, expected)


def test_a_source_that_is_neither_a_folder_nor_a_repo_id_is_named(tmp_path):
    with pytest.raises(StoreError, match="Run '.*no/such/run': there is no folder"):
        load_runs([tmp_path / "no" / "such" / "run"])
    with pytest.raises(StoreError, match="has no evaluated iteration"):
        load_runs([tmp_path])


def test_compare_notebook_runs_on_two_folders(two_runs, tmp_path):
    import nbformat
    import papermill

    out = tmp_path / "compare.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "compare.ipynb"),
        str(out),
        parameters={"runs": [str(p) for p in two_runs]},
        cwd=str(REPO),
        progress_bar=False,
    )
    outputs = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    table = next(o for o in outputs if "text/html" in o.get("data", {}))
    assert all(str(p) in table["data"]["text/html"] for p in two_runs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
