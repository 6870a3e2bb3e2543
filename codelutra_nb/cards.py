"""Model and dataset cards of the Hub repos, built with `ModelCard` / `DatasetCard` from Jinja templates.

The metadata (YAML header) comes from `ModelCardData` / `DatasetCardData`; the body from a template string rendered
by ``from_template``. The metrics table covers every evaluated iteration, so it grows with each iteration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from . import layout
from .best import accuracy_of, best_of
from .config import EMBEDDED_MODEL
from .verdicts import CATEGORIES

TAGS = ["codelutra", "dpo", "lora", "peft", "trl", "code-generation", "text-to-sql"]
DATASET_TAGS = ["codelutra", "dpo", "preference", "code-generation", "synthetic"]
# Hub ids of the models that `LoopConfig.base_model` names in a way the Hub does not know.
KNOWN_BASE_MODELS = {EMBEDDED_MODEL: "HuggingFaceTB/SmolLM2-135M-Instruct"}
# Parameters that describe this machine, not the method; left out of the cards.
LOCAL_PARAMETERS = ("store_dir", "model_cache_dir", "db_dir", "force", "workers")

METHOD = """\
CodeLutra improves a code model from its own verified samples. Each iteration t:

1. **Sample** K candidate programs per training question from M(t-1).
2. **Verify** each candidate by running it against the reference answer (correct, wrong answer, runtime error,
   syntax error, timeout).
3. **Pair** a correct candidate (chosen) with a failed one (rejected) for the same question.
4. **Train** a LoRA adapter with DPO plus an SFT loss on the chosen answer (weight lambda), the reference being M(t-1).
5. **Evaluate** pass@1 on held-out questions."""

MODEL_TEMPLATE = """\
---
{{ card_data }}
---

# {{ repo_id }}

A LoRA adapter for [{{ base_model_name }}]({{ base_model_url }}) trained with **CodeLutra**, iterative preference
learning on the model's own verified programs (DPO with an SFT term, via TRL).

Every iteration t is on the branch `iter-<t>`; `main` holds the latest one, iteration {{ latest_iteration }}.
{%- if dataset_repo %} Samples, verdicts, preference pairs and metrics of each iteration are in the dataset
[{{ dataset_repo }}]({{ dataset_url }}).{% endif %}

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{{ base_model_name }}")
tokenizer = AutoTokenizer.from_pretrained("{{ base_model_name }}")
model = PeftModel.from_pretrained(base, "{{ repo_id }}", revision="iter-{{ latest_iteration }}")
```
{% if best_iteration is not none %}
{% if best_iteration > 0 -%}
**Best iteration so far: {{ best_iteration }}** (held-out accuracy {{ best_accuracy }}). Its adapter is also on the
branch `{{ best_branch }}`, which moves when a later iteration does strictly better:
`PeftModel.from_pretrained(base, "{{ repo_id }}", revision="{{ best_branch }}")`.
{%- else -%}
**Best iteration so far: 0, the base model** (held-out accuracy {{ best_accuracy }}): no trained iteration beats it
yet, so there is no `{{ best_branch }}` branch.
{%- endif %}
{% endif %}
## Results

Held-out execution accuracy (pass@1) and the outcome of every evaluated program, per iteration (0 is the base
model).

{{ metrics_table }}

## Method

{{ method }}

## Parameters

{{ parameters_table }}
"""

DATASET_TEMPLATE = """\
---
{{ card_data }}
---

# {{ repo_id }}

Artifacts of the **CodeLutra** self-training loop
{%- if model_repo %} that trains [{{ model_repo }}]({{ model_url }}){% endif %}.
Each iteration t has a config `iter-<t>` whose `train` split holds its preference pairs (`prompt`, `chosen`,
`rejected` as conversations, plus metadata):

```python
from datasets import load_dataset

pairs = load_dataset("{{ repo_id }}", "iter-{{ latest_iteration }}", split="train")
```

Files of iteration t, under `iter-<t>/`: `{{ files.samples }}` (sampled programs), `{{ files.verdicts }}` (their
execution outcomes), `{{ files.preferences }}/*.parquet` (the pairs) and `{{ files.preferences }}/{{ saved }}/` (the
same pairs as written by `Dataset.save_to_disk`), `{{ files.metrics }}` (held-out evaluation), `{{ files.notebooks }}/`
(the executed notebooks) and `*.shards/` (checkpoints of long stages).

Iterations with preference pairs: {{ iterations_list }}.

## Results

{{ metrics_table }}
"""


def hub_base_model_id(base_model: str | None) -> str | None:
    """The Hub id to put in ``base_model`` metadata, or None when ``base_model`` is a local folder."""
    if not base_model:
        return None
    if base_model in KNOWN_BASE_MODELS:
        return KNOWN_BASE_MODELS[base_model]
    if base_model.startswith(("/", ".", "~")) or Path(base_model).expanduser().exists():
        return None
    if base_model.count("/") != 1 or ":" in base_model:
        return None
    return base_model


def _percent(value: Any) -> str:
    return f"{100 * float(value):.1f}%" if isinstance(value, (int, float)) else "-"


def metrics_table(metrics: Sequence[Mapping[str, Any]], *, revision_links: bool = True) -> str:
    """A markdown table with one row per iteration, sorted by iteration.

    Args:
        metrics: ``metrics.json`` contents: ``{"iteration", "eval": {"accuracy", "executable_rate", "n",
            "categories": {...}}}``; rows without ``eval`` are skipped.
        revision_links: Name each trained model by its branch (``iter-<t>``); iteration 0 is "base model".
    """
    rows = sorted((m for m in metrics if isinstance(m.get("eval"), Mapping)), key=lambda m: int(m["iteration"]))
    if not rows:
        return "_No iteration evaluated yet._"
    categories = list(CATEGORIES)
    for m in rows:
        categories += [c for c in m["eval"].get("categories", {}) if c not in categories]
    header = ["Iteration", "Model", "Accuracy (pass@1)", "Executable", "n", *categories]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---:", ":---", *["---:"] * (len(header) - 2)]) + "|"]
    for m in rows:
        t, ev = int(m["iteration"]), m["eval"]
        model = "base model" if t == 0 else (f"`iter-{t}`" if revision_links else f"M({t})")
        counts = [str(ev.get("categories", {}).get(c, 0)) for c in categories]
        cells = [
            str(t),
            model,
            _percent(ev.get("accuracy")),
            _percent(ev.get("executable_rate")),
            str(ev.get("n", "-")),
            *counts,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parameters_table(params: Mapping[str, Any] | None) -> str:
    """A markdown table of the run's parameters, without the machine-local ones."""
    if not params:
        return "_Not recorded._"
    lines = ["| Parameter | Value |", "|:---|:---|"]
    for key, value in params.items():
        if key in LOCAL_PARAMETERS:
            continue
        text = str(value).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{key}` | `{text}` |")
    return "\n".join(lines)


def model_card(
    repo_id: str,
    *,
    base_model: str | None,
    metrics: Sequence[Mapping[str, Any]] = (),
    latest_iteration: int,
    params: Mapping[str, Any] | None = None,
    dataset_repo: str | None = None,
    endpoint: str = "https://huggingface.co",
) -> ModelCard:
    """The model card of the adapter repo: metadata for the Hub, usage, the metrics table, method and parameters.

    Args:
        repo_id: The model repo, ``namespace/name``.
        base_model: `LoopConfig.base_model`; mapped to a Hub id by `hub_base_model_id` (left out if local).
        metrics: ``metrics.json`` of every evaluated iteration.
        latest_iteration: The iteration whose adapter is on ``main``.
            The card also names the best iteration of ``metrics`` (`best.best_of`), whose adapter is on branch
            `layout.BEST_BRANCH`.
        params: The run's parameters (`LoopConfig.to_dict()`).
        dataset_repo: The dataset repo with the iterations' artifacts, linked from the card.
        endpoint: Hub URL used for links.
    """
    base_id = hub_base_model_id(base_model)
    card_data = ModelCardData(
        base_model=base_id,
        library_name="peft",
        pipeline_tag="text-generation",
        tags=list(TAGS) + ([f"base_model:adapter:{base_id}"] if base_id else []),
        datasets=[dataset_repo] if dataset_repo else None,
    )
    best = best_of(metrics)
    return ModelCard.from_template(
        card_data,
        template_str=MODEL_TEMPLATE,
        repo_id=repo_id,
        base_model_name=base_id or base_model or "the base model",
        base_model_url=f"{endpoint}/{base_id}" if base_id else "#parameters",
        latest_iteration=latest_iteration,
        best_iteration=int(best["iteration"]) if best is not None else None,
        best_accuracy=_percent(accuracy_of(best)) if best is not None else None,
        best_branch=layout.BEST_BRANCH,
        dataset_repo=dataset_repo,
        dataset_url=f"{endpoint}/datasets/{dataset_repo}" if dataset_repo else "",
        metrics_table=metrics_table(metrics),
        method=METHOD,
        parameters_table=parameters_table(params),
    )


def dataset_card(
    repo_id: str,
    *,
    iterations: Sequence[int],
    metrics: Sequence[Mapping[str, Any]] = (),
    model_repo: str | None = None,
    endpoint: str = "https://huggingface.co",
) -> DatasetCard:
    """The dataset card: one config ``iter-<t>`` per iteration with preference pairs (latest is the default).

    Args:
        repo_id: The dataset repo, ``namespace/name``.
        iterations: Iterations whose ``iter-<t>/preferences/*.parquet`` are (or are being) pushed.
        metrics: ``metrics.json`` of every evaluated iteration.
        model_repo: The adapter repo, linked from the card.
        endpoint: Hub URL used for links.
    """
    its = sorted({int(t) for t in iterations})
    configs = [
        {
            "config_name": layout.iteration_dir(t),
            "data_files": [{"split": "train", "path": f"{layout.artifact_path(t, 'preferences')}/*.parquet"}],
            **({"default": True} if t == its[-1] else {}),
        }
        for t in its
    ]
    card_data = DatasetCardData(
        pretty_name=f"CodeLutra artifacts ({repo_id})",
        task_categories=["text-generation"],
        tags=list(DATASET_TAGS),
        configs=configs or None,
    )
    return DatasetCard.from_template(
        card_data,
        template_str=DATASET_TEMPLATE,
        repo_id=repo_id,
        model_repo=model_repo,
        model_url=f"{endpoint}/{model_repo}" if model_repo else "",
        latest_iteration=its[-1] if its else 1,
        iterations_list=", ".join(f"`iter-{t}`" for t in its) or "none yet",
        metrics_table=metrics_table(metrics, revision_links=model_repo is not None),
        files=layout.ARTIFACTS,
        saved=layout.PREFERENCES_SAVED,
    )
