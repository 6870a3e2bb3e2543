"""Intervals and the paired test on hand-made answer sets with known values; the intervals in metrics.json."""

from __future__ import annotations

import pytest

from codelutra_nb.errors import TaskDataError
from codelutra_nb.evaluation import interval, summarize, summarize_groups, summarize_unseen, with_intervals
from codelutra_nb.stats import mcnemar, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # Wilson's interval is not empty at 0 of n ...
        (10, 10, 0.7225, 1.0),  # ... nor at n of n
        (5, 10, 0.2366, 0.7634),
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Statistics in Medicine 17:857
        (0, 0, 0.0, 1.0),  # no questions: nothing is known
    ],
)
def test_wilson_interval_matches_published_values(k, n, low, high):
    assert wilson_interval(k, n) == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_wilson_interval_widens_with_confidence_and_refuses_impossible_counts():
    (lo95, hi95), (lo99, hi99) = wilson_interval(5, 10), wilson_interval(5, 10, confidence=0.99)
    assert lo99 < lo95 and hi99 > hi95
    with pytest.raises(ValueError, match="0 <= k <= n, got k=11, n=10"):
        wilson_interval(11, 10)


def _answers(*outcomes: str) -> tuple[dict[str, bool], dict[str, bool]]:
    """Two models' outcomes on questions q0, q1, ...: "11" both right, "10" only A, "01" only B, "00" both wrong."""
    a = {f"q{i}": o[0] == "1" for i, o in enumerate(outcomes)}
    b = {f"q{i}": o[1] == "1" for i, o in enumerate(outcomes)}
    return a, b


@pytest.mark.parametrize(
    ("outcomes", "p_value"),
    [
        (["01"] * 6 + ["11"] * 3 + ["00"], 0.03125),  # 0 vs 6 discordant: 2 / 2**6
        (["10"] * 6 + ["00"] * 4, 0.03125),  # the other way round, the same p
        (["10"] * 3 + ["01"] * 3 + ["11"] * 4, 1.0),  # equal discordant counts
        (["11"] * 5 + ["00"] * 5, 1.0),  # no discordant question
        (["10"] * 2 + ["01"] * 7 + ["11"], 0.1796875),  # 2 * (1 + 9 + 36) / 2**9
        (["10"] + ["01"] * 9, 0.021484375),  # 2 * (1 + 10) / 2**10
    ],
)
def test_mcnemar_exact_p_value_on_hand_made_answers(outcomes, p_value):
    test = mcnemar(*_answers(*outcomes))
    assert test.p_value == pytest.approx(p_value, rel=1e-12)
    assert test.within_noise is (p_value >= 0.05)


def test_mcnemar_counts_accuracies_and_difference():
    test = mcnemar(*_answers("11", "11", "10", "01", "01", "01", "00", "00"))
    assert (test.both_right, test.only_a, test.only_b, test.both_wrong, test.n) == (2, 1, 3, 2, 8)
    assert (test.accuracy_a, test.accuracy_b, test.difference) == (3 / 8, 5 / 8, 0.25)
    assert test.p_value == 0.625  # 2 * (1 + 4) / 2**4


def test_mcnemar_pairs_by_question_id_not_by_order():
    a, b = _answers("10", "01", "11")
    assert mcnemar(a, dict(reversed(list(b.items())))) == mcnemar(a, b)


def test_mcnemar_refuses_different_question_sets_naming_models_and_ids():
    a, b = _answers("11", "10", "01")
    b = {k: v for k, v in b.items() if k != "q1"} | {"q7": True}
    with pytest.raises(TaskDataError) as refused:
        mcnemar(a, b, names=("M(2) of run 'a'", "M(1) of run 'b'"))
    message = str(refused.value)
    assert "M(2) of run 'a' and M(1) of run 'b' did not answer the same held-out questions" in message
    assert "only M(2) of run 'a' answered 'q1'; only M(1) of run 'b' answered 'q7'" in message
    assert "same eval_tasks and eval_limit" in message
    with pytest.raises(TaskDataError, match="answered no questions"):
        mcnemar({}, {})


def _records(*rows: tuple[str, str]) -> list[dict]:
    return [{"task_id": f"q{i}", "db_id": group, "category": category} for i, (group, category) in enumerate(rows)]


def test_held_out_summaries_carry_wilson_intervals():
    records = _records(
        *[("alpha", "correct")] * 5, *[("alpha", "wrong_answer")] * 3, ("beta", "syntax_error"), ("beta", "timeout")
    )
    ev = with_intervals(summarize(records))
    assert ev["accuracy_ci"] == list(wilson_interval(5, 10)) and ev["executable_rate_ci"] == list(
        wilson_interval(8, 10)
    )
    groups = summarize_groups(records)
    assert groups["alpha"]["accuracy_ci"] == list(wilson_interval(5, 8))
    assert groups["beta"]["accuracy_ci"] == [0.0, pytest.approx(0.6576, abs=5e-5)]
    assert groups["beta"]["executable_rate_ci"] == groups["beta"]["accuracy_ci"]
    unseen = summarize_unseen(records, {"alpha"})
    assert unseen["groups"] == ["beta"] and unseen["accuracy_ci"] == groups["beta"]["accuracy_ci"]


def test_an_old_summary_without_intervals_reads_the_same():
    new = with_intervals(summarize(_records(*[("alpha", "correct")] * 81, *[("alpha", "timeout")] * 182)))
    old = {k: v for k, v in new.items() if not k.endswith("_ci")}
    assert (
        interval(old) == tuple(new["accuracy_ci"]) == (pytest.approx(0.2553, abs=5e-5), pytest.approx(0.3662, abs=5e-5))
    )
    assert interval(old, "executable_rate") == tuple(new["executable_rate_ci"])
