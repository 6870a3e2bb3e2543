"""Comparing runs: the table and plot of codelutra_nb.compare with their intervals, the paired comparisons, from
store folders and the Hub, and compare.ipynb."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from hub_server import USER, serving

from codelutra_nb.compare import PAIRED_COLUMNS, load_runs, paired_comparisons, plot_runs
from codelutra_nb.errors import StoreError, TaskDataError
from codelutra_nb.hub import HubStore
from codelutra_nb.jsonl import write_jsonl
from codelutra_nb.stats import wilson_interval
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


def _answers(counts: tuple[int, ...]) -> list[dict]:
    """One judged answer per question q0, q1, ...: the first counts[0] correct, then wrong_answer, and so on."""
    categories = [c for c, k in zip(CATEGORIES, counts) for _ in range(k)]
    return [
        {"task_id": f"q{i}", "db_id": "db", "category": c, "correct": c == "correct"} for i, c in enumerate(categories)
    ]


def _write_run(store: LocalStore, method: str, iterations: dict[int, tuple[tuple[int, ...], dict | None]]) -> None:
    for t, (counts, rows) in iterations.items():
        store.write_json(t, "metrics", _metrics(t, method, counts, rows))
        with store.writing(t, "evaluation") as path:
            write_jsonl(path, _answers(counts))


@pytest.fixture
def two_runs(tmp_path: Path) -> list[Path]:
    """Run a: codelutra, iterations 0-2 (``pairing.rows``); run b: sft, iterations 0-1 (older ``pairing.pairs``).
    Their metrics.json predate the intervals; question q<i> is right for the first ``correct`` ids."""
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    _write_run(
        LocalStore(a),
        "codelutra",
        {0: ((1, 4, 3, 2, 0), None), 1: ((3, 5, 2, 0, 0), {"rows": 16}), 2: ((4, 5, 1, 0, 0), {"rows": 12})},
    )
    _write_run(LocalStore(b), "sft", {1: ((2, 2, 2, 2, 2), {"pairs": 8}), 0: ((0, 2, 3, 5, 0), None)})
    return [a, b]


@pytest.fixture
def strong_run(tmp_path: Path) -> Path:
    """Run c: dpo_only, the base model answers none of the 10 questions, M(1) all of them."""
    c = tmp_path / "run-c"
    _write_run(LocalStore(c), "dpo_only", {0: ((0, 5, 5, 0, 0), None), 1: ((10, 0, 0, 0, 0), {"rows": 20})})
    return c


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


def test_each_rate_is_followed_by_its_interval_also_from_metrics_without_one(two_runs):
    table = load_runs(two_runs)
    columns = list(table.columns)
    assert columns[columns.index("accuracy") :][:6] == [
        "accuracy",
        "accuracy_lo",
        "accuracy_hi",
        "executable_rate",
        "executable_rate_lo",
        "executable_rate_hi",
    ]
    assert (table.loc[2, "accuracy_lo"], table.loc[2, "accuracy_hi"]) == (0.1682, 0.6873)  # 4 of 10
    assert (table.loc[3, "accuracy_lo"], table.loc[3, "accuracy_hi"]) == (0.0, 0.2775)  # 0 of 10
    assert (table.loc[2, "executable_rate_lo"], table.loc[2, "executable_rate_hi"]) == (0.5958, 0.9821)  # 9 of 10


def test_unseen_accuracy_has_its_interval_where_an_iteration_recorded_it(two_runs):
    store = LocalStore(two_runs[1])
    metrics = store.read_json(1, "metrics")
    metrics["eval"]["unseen"] = {"groups": ["db"], "n": 4, "correct": 1, "accuracy": 0.25, "executable_rate": 0.5}
    store.write_json(1, "metrics", metrics)
    table = load_runs(two_runs[1:])
    assert list(table.columns[table.columns.get_loc("unseen_accuracy") :][:3]) == [
        "unseen_accuracy",
        "unseen_accuracy_lo",
        "unseen_accuracy_hi",
    ]
    assert table["unseen_accuracy_lo"].isna().tolist() == [True, False]
    assert table.loc[1, "unseen_accuracy_hi"] == round(wilson_interval(1, 4)[1], 4)


def test_paired_comparisons_each_run_against_its_base_model_and_the_runs_latest_against_each_other(
    two_runs, strong_run
):
    a, b, c = map(str, (*two_runs, strong_run))
    paired = paired_comparisons([*two_runs, strong_run])
    assert tuple(paired.columns) == PAIRED_COLUMNS
    assert paired[["run_a", "iteration_a", "run_b", "iteration_b"]].values.tolist() == [
        [a, 0, a, 2],
        [b, 0, b, 1],
        [c, 0, c, 1],
        [a, 2, b, 1],
        [a, 2, c, 1],
        [b, 1, c, 1],
    ]
    assert paired["n"].tolist() == [10] * 6
    assert paired["accuracy_a"].tolist() == [0.1, 0.0, 0.0, 0.4, 0.4, 0.2]
    assert paired["accuracy_b"].tolist() == [0.4, 0.2, 1.0, 0.2, 1.0, 1.0]
    assert paired["difference"].tolist() == [0.3, 0.2, 1.0, -0.2, 0.6, 0.8]
    assert paired["only_a"].tolist() == [0, 0, 0, 2, 0, 0]
    assert paired["only_b"].tolist() == [3, 2, 10, 0, 6, 8]
    # 2 / 2**m for m discordant questions, all one way
    assert paired["p_value"].tolist() == [0.25, 0.5, 2 / 2**10, 0.5, 0.03125, 2 / 2**8]
    assert paired["within_noise"].tolist() == [True, True, False, True, False, False]


def test_paired_comparisons_refuse_runs_on_different_questions_and_name_them(two_runs):
    a, b = map(str, two_runs)
    store = LocalStore(two_runs[1])
    with store.writing(1, "evaluation") as path:
        write_jsonl(path, [{**r, "task_id": r["task_id"].replace("q9", "other-9")} for r in _answers((2, 8, 0, 0, 0))])
    with pytest.raises(TaskDataError) as refused:
        paired_comparisons(two_runs)
    assert f"M(0) of run {b!r} and M(1) of run {b!r} did not answer the same held-out questions" in str(refused.value)
    assert f"only M(0) of run {b!r} answered 'q9'; only M(1) of run {b!r} answered 'other-9'" in str(refused.value)
    (store.root / "iter-1" / "eval.jsonl").unlink()
    with pytest.raises(StoreError, match=f"Run {b!r}, iteration 1 has a metrics.json but no eval.jsonl"):
        paired_comparisons(two_runs)


def test_plot_has_one_line_per_run_in_each_panel(two_runs):
    fig = plot_runs(load_runs(two_runs))
    accuracy, executable = fig.axes
    a, b = map(str, two_runs)
    for ax, column in ((accuracy, "accuracy"), (executable, "executable_rate")):
        assert [line.get_label() for line in ax.get_lines()] == [f"{a} (codelutra)", f"{b} (sft)"]
        assert list(ax.get_lines()[0].get_ydata()) == list(load_runs(two_runs[:1])[column])
        band = ax.collections[0].get_paths()[0].vertices  # run a's 95% interval around its line
        first = load_runs(two_runs[:1])
        assert band[:, 1].min() == first[f"{column}_lo"].min() and band[:, 1].max() == first[f"{column}_hi"].max()
        assert len(ax.collections) == 2
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == [f"{a} (codelutra)", f"{b} (sft)"]


def test_a_run_on_the_hub_reads_like_a_folder(two_runs, tmp_path, monkeypatch):
    repo = f"{USER}/compare-data"
    with serving(tmp_path, monkeypatch):
        pushed = HubStore(tmp_path / "pushing", model_repo=None, dataset_repo=repo)
        for t in LocalStore(two_runs[0]).iterations_with("metrics"):
            pushed.write_json(t, "metrics", LocalStore(two_runs[0]).read_json(t, "metrics"))
            with pushed.writing(t, "evaluation") as path:
                path.write_bytes(LocalStore(two_runs[0]).fetch(t, "evaluation").read_bytes())
        pushed.flush()
        table = load_runs([repo, two_runs[1]])
        paired = paired_comparisons([repo, two_runs[1]])
        with pytest.raises(StoreError, match=f"Run '{USER}/no-such-repo' has no evaluated iteration.*or on the Hub"):
            load_runs([f"{USER}/no-such-repo"])
    expected = load_runs(two_runs)
    expected["run"] = expected["run"].replace(str(two_runs[0]), repo)
    pd.testing.assert_frame_equal(table, expected)
    expected = paired_comparisons(two_runs)
    expected[["run_a", "run_b"]] = expected[["run_a", "run_b"]].replace(str(two_runs[0]), repo)
    pd.testing.assert_frame_equal(paired, expected)


def test_a_source_that_is_neither_a_folder_nor_a_repo_id_is_named(tmp_path):
    with pytest.raises(StoreError, match="Run '.*no/such/run': there is no folder"):
        load_runs([tmp_path / "no" / "such" / "run"])
    with pytest.raises(StoreError, match="has no evaluated iteration"):
        load_runs([tmp_path])


def test_compare_notebook_shows_intervals_and_which_differences_are_within_noise(two_runs, strong_run, tmp_path):
    import nbformat
    import papermill

    runs = [two_runs[0], strong_run]
    out = tmp_path / "compare.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "compare.ipynb"),
        str(out),
        parameters={"runs": [str(p) for p in runs]},
        cwd=str(REPO),
        progress_bar=False,
    )
    outputs = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) == 2
    table, paired = tables
    assert all(str(p) in table for p in runs) and "accuracy_lo" in table and "accuracy_hi" in table
    assert any("image/png" in o.get("data", {}) for o in outputs)
    # a: M(0) -> M(2) 3 vs 0 questions, within noise; c: M(0) -> M(1) 10 vs 0; a's M(2) against c's M(1) 0 vs 6.
    assert "<th>within_noise</th>" in paired and "<th>p_value</th>" in paired
    assert paired.count("<td>True</td>") == 1 and paired.count("<td>False</td>") == 2
    assert all(f"<td>{p}</td>" in paired for p in ("0.250000", "0.001953", "0.031250"))
