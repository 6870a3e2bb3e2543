"""Command line over the same functions the notebooks call: ``python -m codelutra_nb ...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import CodelutraError, TaskDataError


def main(argv: list[str] | None = None) -> int:
    from .gpu import CARDS
    from .kinds import KINDS

    parser = argparse.ArgumentParser(prog="python -m codelutra_nb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="Execute candidates and add 'category' and 'correct' to each line.")
    verify.add_argument("--kind", choices=sorted(KINDS), required=True)
    verify.add_argument(
        "--tasks", required=True, help="Task file (Spider or BIRD JSON/JSONL; MBPP, HumanEval or DS-1000 layout)."
    )
    verify.add_argument(
        "--db-dir",
        help="SQL: folder holding <db_id>/<db_id>.sqlite (default: database or <stem>_databases beside the tasks).",
    )
    verify.add_argument("--candidates", required=True, help="JSONL of {task_id, completion, ...}.")
    verify.add_argument(
        "--out", required=True, help="JSONL written with each candidate line plus category and correct."
    )
    verify.add_argument("--timeout", type=float, default=5.0, help="Seconds per program or query.")
    verify.add_argument("--workers", type=int, default=None, help="Parallel workers (default: one per core).")
    verify.set_defaults(func=_verify)

    evaluate = commands.add_parser(
        "evaluate", help="Execution accuracy / pass@1 of any base model or adapter on a task set, without a run."
    )
    evaluate.add_argument("--model", required=True, help="Base model: Hub id, local folder, or embedded:<name>.")
    evaluate.add_argument(
        "--adapter", help="PEFT adapter: a local folder or a Hub model repo, namespace/name[@revision]."
    )
    evaluate.add_argument("--kind", choices=sorted(KINDS), required=True)
    evaluate.add_argument(
        "--tasks", required=True, help="Held-out tasks: a bundled set (demo-sql/eval) or a task file."
    )
    evaluate.add_argument(
        "--db-dir",
        help="SQL: folder holding <db_id>/<db_id>.sqlite (default: database or <stem>_databases beside the tasks).",
    )
    evaluate.add_argument("--out", required=True, help="Folder written with metrics.json and eval.jsonl.")
    evaluate.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Any other parameter, e.g. --set eval_limit=50 --set eval_greedy=true (repeatable).",
    )
    evaluate.set_defaults(func=_evaluate)

    push = commands.add_parser(
        "push", help="Push what a Hub store's folder holds and the Hub lacks (after a run ended on a rate limit)."
    )
    push.add_argument("--store", required=True, help="The run's store_dir.")
    push.add_argument(
        "--wait-minutes", type=float, default=60.0, help="Wait out a Hub rate limit this long (default: 60)."
    )
    push.set_defaults(func=_push)

    for name, help_text in (
        ("run", "Run stages of one iteration."),
        ("iterate", "Run a whole iteration (all stages)."),
        ("params", "Print every parameter with its value, where it came from, and its help."),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--preset", default="demo", help="Preset in params/ or a YAML path (default: demo).")
        sub.add_argument(
            "--set",
            dest="assignments",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Override a parameter, e.g. --set num_samples=8 (repeatable).",
        )
        if name == "params":
            sub.add_argument(
                "--plan",
                action="store_true",
                help="Print the memory plan (peak GPU memory of sampling, training, evaluation) instead; exit 2 when "
                "it does not fit, naming what to change.",
            )
            sub.add_argument(
                "--gpu",
                choices=list(CARDS),
                help="The card --plan plans for (default: the preset's gpu, else the GPU here).",
            )
            sub.set_defaults(func=_params)
            continue
        sub.add_argument("--iteration", type=int, help="Iteration to run (overrides the preset).")
        if name == "run":
            sub.add_argument("stages", nargs="+", help="Stages: baseline sample verify pair train evaluate.")
            sub.add_argument(
                "--store-checked",
                action="store_true",
                help="Skip the store check (Hub token, repos): the process that started this one did it.",
            )
            sub.add_argument(
                "--summary-out", metavar="FILE", help="Write the stages' summaries (or the error) to FILE as JSON."
            )
        sub.set_defaults(func=_run)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CodelutraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _verify(args: argparse.Namespace) -> int:
    from .config import TaskParams, VerifyParams
    from .jsonl import read_jsonl, write_jsonl
    from .kinds import get_kind, verify_candidates

    candidates = read_jsonl(Path(args.candidates), "give the candidates file, one {task_id, completion} per line")
    for number, record in enumerate(candidates, 1):
        where = f"{args.candidates}, record {number}"
        if not isinstance(record, dict) or "task_id" not in record or "completion" not in record:
            raise TaskDataError(f"{where} must be an object with 'task_id' and 'completion'.")
        if not isinstance(record["completion"], str):
            kind = type(record["completion"]).__name__
            raise TaskDataError(f"{where}: 'completion' must be a string (the raw model output), not {kind}.")
        if isinstance(record["task_id"], bool) or not isinstance(record["task_id"], (str, int)):
            kind = type(record["task_id"]).__name__
            raise TaskDataError(f"{where}: 'task_id' must be a string or an integer, not {kind}.")
    kind = get_kind(args.kind)
    tasks = kind.load_tasks(args.tasks, TaskParams(task_kind=args.kind, db_dir=args.db_dir))
    pairs = [(str(c["task_id"]), c["completion"]) for c in candidates]
    verdicts = verify_candidates(
        {t.task_id: t for t in tasks}, pairs, VerifyParams(exec_timeout_s=args.timeout, workers=args.workers)
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        out,
        [
            {**record, "category": verdict.category.value, "correct": verdict.correct}
            for record, verdict in zip(candidates, verdicts)
        ],
    )
    n_correct = sum(v.correct for v in verdicts)
    print(f"{len(verdicts)} candidates verified, {n_correct} correct; wrote {out}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .config import parse_assignments
    from .evaluation import evaluate_model

    params = parse_assignments(args.assignments)
    flags = {"base_model": args.model, "task_kind": args.kind, "eval_tasks": args.tasks, "db_dir": args.db_dir}
    params.update({name: value for name, value in flags.items() if value is not None})
    e = evaluate_model(args.out, adapter=args.adapter, **params)["eval"]
    print(
        f"accuracy {e['accuracy']:.1%} ({e['categories']['correct']}/{e['n']}), executable {e['executable_rate']:.1%};"
        f" wrote {args.out}",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    """``run`` / ``iterate``; under ``accelerate launch`` (`codelutra_nb.parallel`) in each process of the group."""
    from . import parallel
    from .config import load_config, parse_assignments
    from .stages import run_iteration, run_stages

    overrides = parse_assignments(args.assignments)
    if args.iteration is not None:
        overrides["iteration"] = args.iteration
    if parallel.group().size > 1:  # what the stages record is how many processes really share them
        overrides["num_processes"] = parallel.group().size
    summary_out = getattr(args, "summary_out", None)
    try:
        cfg = load_config(args.preset, **overrides)
        if args.command == "iterate":
            summaries = run_iteration(cfg)
        else:
            summaries = run_stages(cfg, args.stages, check_store=not args.store_checked)
    except CodelutraError as err:
        if summary_out and parallel.is_main():
            Path(summary_out).write_text(json.dumps({"error": {"type": type(err).__name__, "message": str(err)}}))
        raise
    finally:
        parallel.finish()
    if summary_out and parallel.is_main():
        Path(summary_out).write_text(json.dumps({"summaries": summaries}, default=str))
    return 0


def _push(args: argparse.Namespace) -> int:
    from .hub import HubStore

    store = HubStore.reopen(args.store, flush_wait_minutes=args.wait_minutes)
    store.preflight(sync=False)
    pushed = store.flush()
    done = "; ".join(f"iteration {t}'s {what}" for t, what in pushed) or "nothing was missing"
    print(f"pushed: {done}", file=sys.stderr)
    return 0


def _params(args: argparse.Namespace) -> int:
    from .config import describe, load_config, parse_assignments

    overrides = parse_assignments(args.assignments)
    if args.plan:
        return _plan(load_config(args.preset, **overrides), args.gpu)
    method = load_config(args.preset, **overrides).method
    heading = f"method: {method.name}"
    section = None
    for row in describe(args.preset, **overrides):
        if row.section != section:
            section = row.section
            print(f"\n[{section}]" + (f" {_doc(method)}" if section == heading else ""))
        print(f"  {row.name} = {row.value!r}  ({row.source}; {row.type})\n      {row.help}")
    if section != heading:
        print(f"\n[{heading}] {_doc(method)} No parameters of its own.")
    return 0


def _plan(cfg, gpu: str | None) -> int:
    from .memory_plan import card_for, plan, refusal

    memory = plan(cfg, card_for(cfg, gpu))
    print(memory.text())
    if memory.fits:
        return 0
    print(f"error: {refusal(memory, cfg)}", file=sys.stderr)
    return 2


def _doc(obj: object) -> str:
    """The first paragraph of a class's docstring, on one line."""
    return " ".join((type(obj).__doc__ or "").split("\n\n")[0].split())
