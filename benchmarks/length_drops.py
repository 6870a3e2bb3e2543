"""Training rows a preset would lose to max_length on Spider dev: how many prompts alone have max_length tokens or more.

    python benchmarks/length_drops.py [--preset spider_paper] [--spider DIR] [--tokenizer DIR [--llama3-chat]]

TRL drops every training row whose prompt alone has ``max_length`` tokens or more (`codelutra_nb.lengths`). This
counts them for the preset's prompts (its ``prompt_template`` and ``system_prompt``, else the sql kind's default) over
Spider's dev questions, counted as the pair stage counts them (`lengths.count_tokens`: the chat template with its
generation prompt). A question's pairs all share its prompt, so the pairs dropped are K (``pairs_per_task``, else
``num_samples``) for each such question, if every question were paired.

../shared/data/spider holds one of the dev databases' files (department_store, which no dev question uses); every
dev database is built empty from ``tables.json`` instead (a ``CREATE TABLE`` per table, one column per line with its
type, primary and foreign keys, in the style of Spider's own DDL), so the schema in each prompt is reconstructed.
How close that comes is measured on department_store: its reconstructed schema against its real one, in tokens.

The tokenizer: the embedded model's (SmolLM2) by default, or ``--tokenizer DIR`` (a folder with tokenizer files);
``--llama3-chat`` gives it Llama-3-Instruct's chat template (for a Llama 3 tokenizer without one).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codelutra_nb.config import EMBEDDED_MODEL, ModelParams, load_config  # noqa: E402
from codelutra_nb.kinds.sql.tasks import load_sql_tasks  # noqa: E402
from codelutra_nb.lengths import count_tokens  # noqa: E402
from codelutra_nb.prompts import messages_for  # noqa: E402

SPIDER = REPO.parent / "shared" / "data" / "spider"
TYPES = {"text": "VARCHAR(255)", "number": "INTEGER", "time": "DATETIME", "boolean": "BOOLEAN", "others": "TEXT"}
LLAMA3_CHAT = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
"""Meta-Llama-3-8B-Instruct's chat template."""


def ddl(entry: dict) -> str:
    """A database's ``CREATE TABLE`` statements from its tables.json entry."""
    tables, columns = entry["table_names_original"], entry["column_names_original"]
    statements = []
    for t, table in enumerate(tables):
        if table.lower().startswith("sqlite_"):
            continue  # SQLite's own (sqlite_sequence): made by SQLite, never in a prompt's schema
        lines = [
            f"`{name}` {TYPES.get(entry['column_types'][c], 'TEXT')}" for c, (ti, name) in enumerate(columns) if ti == t
        ]
        keys = [columns[c][1] for c in _flat(entry["primary_keys"]) if columns[c][0] == t]
        if keys:
            lines.append(f"PRIMARY KEY ({', '.join(f'`{k}`' for k in keys)})")
        for source, target in entry["foreign_keys"]:
            if columns[source][0] == t:
                other = tables[columns[target][0]]
                lines.append(f"FOREIGN KEY (`{columns[source][1]}`) REFERENCES `{other}`(`{columns[target][1]}`)")
        statements.append(f"CREATE TABLE `{table}` (\n" + ",\n".join(lines) + "\n);")
    return "\n".join(statements)


def _flat(keys: list) -> list[int]:
    return [k for key in keys for k in (key if isinstance(key, list) else [key])]


def build_databases(entries: list[dict], folder: Path) -> None:
    for entry in entries:
        path = folder / entry["db_id"] / f"{entry['db_id']}.sqlite"
        path.parent.mkdir(parents=True)
        conn = sqlite3.connect(path)
        conn.executescript(ddl(entry))
        conn.close()


def tokenizer_of(args: argparse.Namespace):
    from transformers import AutoTokenizer

    from codelutra_nb.models import load_tokenizer

    if args.tokenizer is None:
        return load_tokenizer(ModelParams(base_model=EMBEDDED_MODEL)), f"{EMBEDDED_MODEL} (SmolLM2's)"
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    if args.llama3_chat:
        tokenizer.chat_template = LLAMA3_CHAT
    return tokenizer, f"{args.tokenizer}{' with the Llama-3-Instruct chat template' if args.llama3_chat else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="spider_paper")
    parser.add_argument("--spider", default=str(SPIDER), help="folder with dev.json and tables.json")
    parser.add_argument("--tokenizer", help="a folder with tokenizer files (default: the embedded model's)")
    parser.add_argument("--llama3-chat", action="store_true", help="use Llama-3-Instruct's chat template")
    args = parser.parse_args()

    cfg = load_config(args.preset)
    spider = Path(args.spider)
    dev = json.loads((spider / "dev.json").read_text())
    entries = {e["db_id"]: e for e in json.loads((spider / "tables.json").read_text())}
    tokenizer, named = tokenizer_of(args)
    with tempfile.TemporaryDirectory() as tmp:
        databases = Path(tmp) / "database"
        build_databases([entries[d] for d in sorted({r["db_id"] for r in dev})], databases)
        (Path(tmp) / "dev.json").write_text(json.dumps(dev))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tasks = load_sql_tasks(str(Path(tmp) / "dev.json"), db_dir=str(databases))
        lengths = count_tokens([messages_for(task, cfg.tasks) for task in tasks], tokenizer)
        real = spider / "database" / "department_store" / "department_store.sqlite"
        calibration = ""
        if real.exists():
            build_databases([entries["department_store"]], Path(tmp) / "check")
            ours = Path(tmp) / "check" / "department_store" / "department_store.sqlite"
            [real_task] = load_sql_tasks(_one_question(tmp, "real"), db_dir=str(real.parent.parent), timeout_s=5)
            [our_task] = load_sql_tasks(_one_question(tmp, "ours"), db_dir=str(ours.parent.parent), timeout_s=5)
            n_real, n_ours = (len(tokenizer(t.schema)["input_ids"]) for t in (real_task, our_task))
            calibration = (
                f"; department_store's schema: {n_ours} tokens reconstructed, {n_real} real ({n_ours / n_real:.2f}x)"
            )
    k = cfg.method.pairs_per_task if getattr(cfg.method, "pairs_per_task", None) else cfg.sampling.num_samples
    ordered = sorted(lengths)
    print(
        f"preset {args.preset}: {len(tasks)} Spider dev questions ({len(dev) - len(tasks)} dropped at load, "
        f"{len(caught)} warnings), tokenizer {named}{calibration}"
    )
    print(
        f"prompt tokens: median {ordered[len(ordered) // 2]}, 95th percentile {ordered[int(len(ordered) * 0.95)]}, "
        f"longest {ordered[-1]}"
    )
    for max_length in sorted({cfg.training.max_length, 1024, 512}, reverse=True):
        over = sum(n >= max_length for n in lengths)
        marker = "  <- the preset's" if max_length == cfg.training.max_length else ""
        print(
            f"max_length {max_length}: {over} of {len(lengths)} questions ({over / len(lengths):.1%}) have prompts "
            f"of max_length tokens or more: {over * k} of {len(lengths) * k} pairs dropped at K = {k}{marker}"
        )


def _one_question(tmp: str, name: str) -> str:
    path = Path(tmp) / f"{name}.json"
    path.write_text(json.dumps([{"db_id": "department_store", "question": "?", "query": "SELECT 1"}]))
    return str(path)


if __name__ == "__main__":
    main()
