"""Does the loop still improve? M(t) against the earlier iterations, the best pointer, and the stop rule.

Everything here compares held-out accuracy (``eval.accuracy`` of ``metrics.json``). The **best** iteration is the
one with the highest accuracy; a tie goes to the earlier iteration, so a later one becomes best only when it is
strictly better. Iteration 0 (the base model) counts: a trained M(t) that does not beat it is no improvement.

- `versus`: the ``versus`` section of iteration t's ``metrics.json`` (M(t) against the best earlier iteration).
- `update_best`: the best pointer, `layout.BEST` at the store's root (and on the Hub the branch
  `layout.BEST_BRANCH` of the model repo), rewritten at the end of every evaluate stage.
- `announce_start`: the line the sample stage prints about the model an iteration starts from, and the
  ``stop_when_worse`` refusal.
- `report`: the plain-text summary ``iterate.ipynb`` prints after an iteration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from . import layout
from .errors import ConfigError
from .jsonl import read_jsonl
from .stats import mcnemar, outcomes

if TYPE_CHECKING:
    from .store import LocalStore


class _Paired(TypedDict, total=False):
    """The paired test in ``versus`` (`paired_with_best`); absent when the best earlier iteration's answers are not at
    hand or answer other questions."""

    p_value: float
    """McNemar's exact p-value of M(t) against the best earlier iteration on the same held-out questions."""
    within_noise: bool
    """The difference from the best earlier iteration could be chance (``p_value`` >= `stats.NOISE_LEVEL`)."""


class Versus(_Paired):
    """``metrics.json["versus"]`` of iteration t: M(t) against the earlier evaluated iterations."""

    best_earlier: int
    """The best iteration before t (highest accuracy, ties to the earlier one; 0 is the base model)."""
    best_earlier_accuracy: float
    previous: int
    """The latest evaluated iteration before t (t-1 unless it was never evaluated)."""
    previous_accuracy: float
    delta_vs_best: float
    """accuracy(t) - best_earlier_accuracy: negative when M(t) is worse than the best earlier iteration."""
    improved: bool
    """accuracy(t) is strictly above every earlier iteration's; a tie is no improvement."""


class BestRecord(TypedDict):
    """The best pointer, `layout.BEST` at the store's root."""

    iteration: int
    accuracy: float
    executable_rate: float
    n: int
    adapter: str | None
    """The adapter's folder below the store's root (``iter-<t>/adapter``); None for iteration 0, the base model."""
    hub_adapter: str | None
    """``namespace/name@iter-<t>`` when the adapter is on the Hub (also on branch ``best``); None otherwise."""


def accuracy_of(metrics: Mapping[str, Any]) -> float | None:
    """Held-out accuracy of one ``metrics.json``; None when it has no evaluation."""
    ev = metrics.get("eval")
    value = ev.get("accuracy") if isinstance(ev, Mapping) else None
    return float(value) if isinstance(value, (int, float)) else None


def best_of(history: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ``metrics.json`` of the best iteration in ``history`` (ties to the earlier one); None when none is scored."""
    best = None
    for m in sorted((m for m in history if accuracy_of(m) is not None), key=lambda m: int(m["iteration"])):
        if best is None or accuracy_of(m) > accuracy_of(best):  # type: ignore[operator]
            best = m
    return best


def versus(history: Iterable[Mapping[str, Any]], iteration: int, accuracy: float) -> Versus | None:
    """M(``iteration``) with held-out ``accuracy`` against the evaluated iterations before it; None when there is none.

    ``history`` may hold any iterations (those at or after ``iteration`` are ignored).
    """
    earlier = sorted(
        (m for m in history if int(m["iteration"]) < iteration and accuracy_of(m) is not None),
        key=lambda m: int(m["iteration"]),
    )
    best = best_of(earlier)
    if best is None:
        return None
    best_accuracy, previous = accuracy_of(best), earlier[-1]
    assert best_accuracy is not None
    return Versus(
        best_earlier=int(best["iteration"]),
        best_earlier_accuracy=best_accuracy,
        previous=int(previous["iteration"]),
        previous_accuracy=accuracy_of(previous),  # type: ignore[typeddict-item]
        delta_vs_best=round(accuracy - best_accuracy, 6),
        improved=accuracy > best_accuracy,
    )


def paired_with_best(store: LocalStore, vs: Versus, records: Sequence[Mapping[str, Any]]) -> Versus:
    """``vs`` with the paired test of M(t)'s judged answers (``records``) against those of the best earlier iteration
    (its ``eval.jsonl``); unchanged when those are missing or answer other questions."""
    if not store.has(vs["best_earlier"], "evaluation"):
        return vs
    earlier, now = outcomes(read_jsonl(store.fetch(vs["best_earlier"], "evaluation"))), outcomes(records)
    if earlier.keys() != now.keys() or not now:
        return vs
    test = mcnemar(earlier, now)
    return {**vs, "p_value": round(test.p_value, 6), "within_noise": test.within_noise}  # type: ignore[typeddict-item]


def best_record(metrics: Mapping[str, Any]) -> BestRecord:
    """The best pointer naming the iteration of ``metrics`` (its adapter's place in the store; none for 0)."""
    t, ev = int(metrics["iteration"]), metrics["eval"]
    return BestRecord(
        iteration=t,
        accuracy=float(ev["accuracy"]),
        executable_rate=float(ev.get("executable_rate", 0.0)),
        n=int(ev.get("n", 0)),
        adapter=layout.artifact_path(t, "adapter") if t > 0 else None,
        hub_adapter=None,
    )


def update_best(store: LocalStore, history: Sequence[Mapping[str, Any]]) -> BestRecord | None:
    """Point the store's best pointer (and, on the Hub, branch ``best``) at the best iteration of ``history``."""
    best = best_of(history)
    if best is None:
        return None
    record = best_record(best)
    store.write_best(dict(record))
    return store.read_best()  # type: ignore[return-value]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _model(t: int) -> str:
    return "M(0), the base model" if t == 0 else f"M({t})"


def _starting_point(history: Iterable[Mapping[str, Any]], iteration: int) -> tuple[float | None, Versus | None]:
    """Held-out accuracy of M(iteration - 1), the model iteration ``iteration`` samples from, and its `versus`."""
    start = iteration - 1
    by_iteration = {int(m["iteration"]): m for m in history}
    accuracy = accuracy_of(by_iteration[start]) if start in by_iteration else None
    return accuracy, (versus(by_iteration.values(), start, accuracy) if accuracy is not None else None)


def start_line(history: Iterable[Mapping[str, Any]], iteration: int) -> str:
    """The line saying which model iteration ``iteration`` starts from (M(t-1)), its held-out accuracy, and whether
    it is worse than the best earlier iteration."""
    start = iteration - 1
    accuracy, vs = _starting_point(history, iteration)
    if accuracy is None:
        return f"Iteration {iteration} starts from {_model(start)}, not evaluated yet."
    head = f"Iteration {iteration} starts from {_model(start)}: held-out accuracy {_percent(accuracy)}"
    if vs is None:
        return f"{head}."
    best = f"{_model(vs['best_earlier'])} ({_percent(vs['best_earlier_accuracy'])})"
    if vs["delta_vs_best"] < 0:
        return f"{head}, worse than the best earlier iteration, {best}."
    if vs["improved"]:
        return f"{head}, the best so far."
    return f"{head}, as good as the best earlier iteration, {best}."


def announce_start(history: Sequence[Mapping[str, Any]], iteration: int, *, stop_when_worse: bool) -> str:
    """Print `start_line`; with ``stop_when_worse``, `ConfigError` when the starting model is worse than the best.

    Returns the printed line.
    """
    line = start_line(history, iteration)
    print(line, flush=True)
    accuracy, vs = _starting_point(history, iteration)
    if stop_when_worse and accuracy is not None and vs is not None and vs["delta_vs_best"] < 0:
        start, best = _model(iteration - 1), vs["best_earlier"]
        raise ConfigError(
            f"stop_when_worse is set and {start} is worse than the best iteration so far: held-out accuracy "
            f"{_percent(accuracy)} against {_percent(vs['best_earlier_accuracy'])} for {_model(best)}, so iteration "
            f"{iteration} does not start from it (nothing was sampled). The best iteration is {best}. To continue "
            f"from {start} anyway, set stop_when_worse=false (papermill: -y 'params: {{stop_when_worse: false}}'; "
            "CLI: --set stop_when_worse=false)."
        )
    return line


def report(history: Sequence[Mapping[str, Any]], iteration: int, best: Mapping[str, Any] | None = None) -> str:
    """Plain lines on iteration ``iteration``: its accuracy, whether it improved on every earlier iteration, the best
    iteration so far (``best``: the store's best pointer, for where its adapter is) and, when the held-out set has
    groups never trained on, the accuracy on them.
    """
    by_iteration = {int(m["iteration"]): m for m in history}
    metrics = by_iteration.get(iteration)
    accuracy = accuracy_of(metrics) if metrics is not None else None
    if metrics is None or accuracy is None:
        return f"{_model(iteration)} has not been evaluated yet."
    ev = metrics["eval"]
    lines = [
        f"{_model(iteration)}: held-out accuracy {_percent(accuracy)}, "
        f"executable {_percent(float(ev.get('executable_rate', 0.0)))} (n = {ev.get('n', '-')})."
    ]
    vs = versus(history, iteration, accuracy)
    stored = metrics.get("versus") or {}
    if vs is not None and "p_value" in stored and stored.get("best_earlier") == vs["best_earlier"]:
        vs = {**vs, "p_value": stored["p_value"], "within_noise": stored["within_noise"]}  # type: ignore[typeddict-item]
    if vs is not None:
        delta = f"{100 * abs(vs['delta_vs_best']):.1f} points"
        earlier = f"{_model(vs['best_earlier'])} ({_percent(vs['best_earlier_accuracy'])})"
        noise = ""
        if "p_value" in vs and vs["delta_vs_best"] != 0:
            within = "within noise" if vs["within_noise"] else "more than noise"
            noise = f" ({within}: paired p = {vs['p_value']:.2g} on the same {ev.get('n', '-')} questions)"
        if vs["improved"]:
            lines.append(f"Improved: {delta} above the best earlier iteration, {earlier}{noise}.")
        elif vs["delta_vs_best"] == 0:
            lines.append(f"Did not improve held-out accuracy: the same as the best earlier iteration, {earlier}.")
        else:
            lines.append(
                f"Did not improve held-out accuracy: {delta} below the best earlier iteration, {earlier}{noise}."
            )
    top = best_of(history)
    if top is not None:
        b = int(top["iteration"])
        where = ""
        if best is not None and int(best.get("iteration", -1)) == b:
            if best.get("hub_adapter"):
                where = f"; its adapter: {best['hub_adapter']} (also revision {layout.BEST_BRANCH!r})"
            else:
                where = f"; its adapter: {best['adapter']}" if best.get("adapter") else "; no adapter beats it"
        lines.append(f"Best so far: iteration {b}, {_model(b)} ({_percent(accuracy_of(top))}){where}.")  # type: ignore[arg-type]
    unseen = ev.get("unseen")
    if isinstance(unseen, Mapping):
        groups = ", ".join(map(str, unseen.get("groups", [])))
        line = (
            f"On held-out groups never trained on ({groups}): accuracy {_percent(float(unseen['accuracy']))} "
            f"over {unseen['n']} questions"
        )
        if vs is not None:
            earlier_unseen = by_iteration[vs["best_earlier"]].get("eval", {}).get("unseen")
            if isinstance(earlier_unseen, Mapping):
                line += f" ({_model(vs['best_earlier'])}: {_percent(float(earlier_unseen['accuracy']))})"
        lines.append(line + ".")
    return "\n".join(lines)


def iteration_report(store: LocalStore, iteration: int) -> str:
    """`report` of ``iteration`` from the store's evaluated iterations and best pointer (``iterate.ipynb``)."""
    history = [store.read_json(t, "metrics") for t in store.iterations_with("metrics")]
    return report(history, iteration, store.read_best())
