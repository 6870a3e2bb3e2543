"""Writes notebooks/*.ipynb: thin papermill programs over codelutra_nb (run after editing the cells below).

tests/test_notebooks.py checks the committed notebooks match this file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from codelutra_nb.session import CHECKOUT, REPO_URL

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

INSTALL = f"""# Setup (codelutra_nb/session.py): a no-op where the toolkit is installed but for one line on this session (GPU,
# versions, dtype, Hub token); in a fresh Colab, Kaggle or Jupyter session it installs the toolkit first, from the
# clone this notebook is in, else from a clone of the repository, keeping the session's own torch.
import importlib.util, os, subprocess, sys
from pathlib import Path

if importlib.util.find_spec("codelutra_nb") is None:
    _here = [Path.cwd(), *Path.cwd().parents]
    _repo = next((p for p in _here if (p / "codelutra_nb" / "session.py").is_file()), Path("{CHECKOUT}").resolve())
    if not _repo.exists():
        _url = os.environ.get("CODELUTRA_REPO", "{REPO_URL}")
        subprocess.run(["git", "clone", "--depth", "1", _url, str(_repo)], check=True)
    sys.path.insert(0, str(_repo))
    from codelutra_nb.session import install

    install(_repo)
from codelutra_nb.session import start

start();"""

PARAMETERS = """preset = "demo"  # a preset in params/ (demo, spider, mbpp, colab_t4, ...) or a path to a YAML file
iteration = 1  # t: this iteration trains M(t) from M(t-1); 0 is the base model
force = False  # redo this stage even if its output already exists
params = {}  # any other parameter, e.g. {"num_samples": 8, "base_model": "Qwen/Qwen2.5-Coder-7B-Instruct"}"""
STAGE_PARAMETERS = (
    PARAMETERS + "\nstore_checked = False  # True when iterate.ipynb has already checked the store (Hub token, repos)"
)

SETUP = """from codelutra_nb.config import config_from_namespace
from codelutra_nb.store import open_store

cfg = config_from_namespace(globals())
store = open_store(cfg, check=not store_checked)
t = cfg.run.iteration
print(f"iteration {t} of {cfg.model.base_model} on {cfg.tasks.train_tasks}; artifacts in {store.iteration_dir(t)}")"""


def stage(title: str, intro: str, *cells: str) -> nbformat.NotebookNode:
    params = new_code_cell(STAGE_PARAMETERS, metadata={"tags": ["parameters"]})
    body = [new_code_cell(INSTALL), new_markdown_cell(f"# {title}\n\n{intro}"), params, new_code_cell(SETUP)]
    body += [new_markdown_cell(c[2:]) if c.startswith("# ") and "\n" not in c else new_code_cell(c) for c in cells]
    nb = new_notebook(
        cells=body,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    return nb


NOTEBOOK_CELLS = {
    "01_sample.ipynb": stage(
        "1 · Sample",
        "The current model M(t-1) writes K candidate programs for every training question, at temperature about 1. "
        "Samples are written in checkpointed shards, so a session that dies loses at most one shard.",
        'import pandas as pd\nfrom codelutra_nb.stages import sample_stage\n\npd.Series(sample_stage(cfg, store), name="sampling")',
        "# A few of the candidates, as the model wrote them:",
        'pd.read_json(store.fetch(t, "samples"), lines=True).head(4)',
    ),
    "02_verify.ipynb": stage(
        "2 · Verify",
        "Every candidate is executed safely and compared with the reference: for SQL, the same result set as the gold "
        "query on the same database; for Python, the task's tests pass. Each gets one category: correct, wrong_answer, "
        "runtime_error, syntax_error or timeout.",
        "import pandas as pd\nfrom codelutra_nb.stages import verify_stage\n\nverified = verify_stage(cfg, store)\n"
        'pd.Series(verified["categories"], name="candidates")',
        "print(f\"{verified['accuracy']:.1%} of the samples are correct, {verified['executable_rate']:.1%} execute\")",
    ),
    "03_pair.ipynb": stage(
        "3 · Pair",
        "The method turns the verified samples into training rows. CodeLutra's: per question, K (chosen = correct, "
        "rejected = failed) pairs, drawn with replacement when a side has fewer than K, after dropping degenerate outputs "
        "that repeat themselves; the other methods (`method`) make theirs by their own rule. Rows whose prompt alone has "
        "`max_length` tokens or more are counted (`too_long`): TRL would drop them, and training stops if most would go.",
        "import pandas as pd\nfrom codelutra_nb.stages import pair_stage, pairing_line, training_rows\n\n"
        'paired = pair_stage(cfg, store)\nprint(pairing_line(cfg, store, t))\npd.Series(paired, name="pairing")',
        "# Two of the rows the model will learn from, as the method shows them:",
        "cfg.method.preview(training_rows(store, t), t)",
    ),
    "04_train.ipynb": stage(
        "4 · Train",
        "One epoch of LoRA (QLoRA when `load_in_4bit`) with the method's trainer: for CodeLutra the dual loss "
        "L = L_DPO + λ·L_SFT(chosen). Training continues the adapter of M(t-1), and the reference model is M(t-1).",
        'import pandas as pd\nfrom codelutra_nb.stages import train_stage, training_log\n\npd.Series(train_stage(cfg, store), name="training")',
        "# How training went, in the trainer's own numbers:",
        "log = training_log(store, t)\nprint(cfg.method.training_line(t, log))\ncfg.method.plot_training(log);",
    ),
    "05_evaluate.ipynb": stage(
        "5 · Evaluate",
        "Execution accuracy (pass@1) of M(t) on the held-out questions at temperature 0.2, top_p 1.0, up to 512 new "
        "tokens; the executable rate and the error breakdown, across iterations.",
        "import pandas as pd\nfrom codelutra_nb.stages import evaluate_stage, history, plot_progress\n"
        "from codelutra_nb.evaluation import metrics_table\n\nmetrics = evaluate_stage(cfg, store)\n"
        "print(f\"M({t}): accuracy {metrics['eval']['accuracy']:.1%}, executable {metrics['eval']['executable_rate']:.1%}\")",
        "metrics_table(history(store))",
        "plot_progress(store);",
    ),
    "iterate.ipynb": None,
}

ITERATE = new_notebook(
    cells=[
        new_code_cell(INSTALL),
        new_markdown_cell(
            "# One CodeLutra iteration\n\nRuns the stage notebooks in order with papermill: sample → verify → pair → train → "
            "evaluate (iteration 1 first evaluates the base model as iteration 0). A stage whose output exists is skipped, so "
            "`papermill notebooks/iterate.ipynb out.ipynb -p iteration 2` continues where the last run stopped. On a machine "
            'with several GPUs (Kaggle\'s 2xT4), `params = {"num_processes": 2}` samples, trains and evaluates on all '
            "of them (`accelerate launch`, started for you); with one process the stages say how many GPUs sit idle."
        ),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(
            "from codelutra_nb.chain import run_notebooks\nfrom codelutra_nb.config import config_from_namespace\n\n"
            "cfg = config_from_namespace(globals())\nexecuted = run_notebooks(cfg)\n[str(p) for p in executed]"
        ),
        new_markdown_cell("## Where the loop stands"),
        new_code_cell(
            "from codelutra_nb.best import iteration_report\nfrom codelutra_nb.evaluation import metrics_table\n"
            "from codelutra_nb.stages import history, plot_progress\nfrom codelutra_nb.store import open_store\n\n"
            "store = open_store(cfg, check=False)\nprint(iteration_report(store, cfg.run.iteration))\n"
            "metrics_table(history(store))"
        ),
        new_code_cell("plot_progress(store);"),
    ],
    metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
)
NOTEBOOK_CELLS["iterate.ipynb"] = ITERATE

NOTEBOOK_CELLS["compare.ipynb"] = new_notebook(
    cells=[
        new_code_cell(INSTALL),
        new_markdown_cell(
            "# Compare runs\n\nHeld-out accuracy and executable rate per iteration of several runs (methods, presets, "
            "parameters), each with its 95% interval, the outcome counts and the training rows each iteration "
            "produced, from each run's `metrics.json`; then which differences between the runs are more than noise, "
            "from each run's per-question `eval.jsonl`: "
            '`papermill notebooks/compare.ipynb out.ipynb -y "runs: [runs/demo, you/codelutra-data]"`.'
        ),
        new_code_cell(
            'runs = ["runs/demo"]  # store folders (store_dir) or Hub dataset repos (hub_dataset_repo), one line each',
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell(
            "from codelutra_nb.compare import load_runs, plot_runs\n\ntable = load_runs(runs)\n"
            'table.set_index(["run", "iteration"])'
        ),
        new_code_cell("plot_runs(table);"),
        new_markdown_cell(
            "## Which differences are more than noise\n\nOn 40-100 held-out questions one question moves accuracy by "
            "1-2.5 points. Each run's latest iteration against its base model (iteration 0), then the runs' latest "
            "iterations against each other, on the same questions: `only_a` / `only_b` count the questions only that "
            "model answered right, `p_value` is McNemar's exact test on them, and `within_noise` marks p ≥ 0.05."
        ),
        new_code_cell("from codelutra_nb.compare import paired_comparisons\n\npaired_comparisons(runs)"),
    ],
    metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
)


def main() -> None:
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, nb in NOTEBOOK_CELLS.items():
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{Path(name).stem}-{i}"
        nbformat.write(nb, NOTEBOOKS / name)


if __name__ == "__main__":
    main()
