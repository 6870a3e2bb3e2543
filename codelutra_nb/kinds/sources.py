"""Task source strings that name something other than a file: the bundled data folder and Hub datasets.

A Hub source is ``hub:DATASET[:CONFIG]:SPLIT``, e.g. ``hub:google-research-datasets/mbpp:full:test`` or
``hub:openai/openai_humaneval:test``; it is read with ``datasets.load_dataset(DATASET, CONFIG, split=SPLIT)``
(cached by `datasets`, so ``HF_HUB_OFFLINE=1`` reads a copy loaded before). A task kind turns the records into
tasks with the same parser it uses for files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TaskDataError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
"""The task sets shipped in the package (``codelutra_nb/data``)."""

HUB_PREFIX = "hub:"
HUB_SYNTAX = "hub:DATASET[:CONFIG]:SPLIT"
HUB_EXAMPLE = "hub:google-research-datasets/mbpp:full:test"

_NAME = r"[A-Za-z0-9][\w.-]*"
_HUB_SOURCE = re.compile(rf"^hub:(?P<dataset>{_NAME}(?:/{_NAME})?)(?::(?P<config>{_NAME}))?:(?P<split>{_NAME})$")


@dataclass(frozen=True)
class HubSource:
    """A split of a dataset on the Hugging Face Hub.

    Attributes:
        dataset: The dataset id, ``namespace/name``.
        config: The dataset's config (subset), None for its default one.
        split: The split, e.g. ``"test"``.
    """

    dataset: str
    config: str | None
    split: str

    def __str__(self) -> str:
        return ":".join(["hub", self.dataset, *([self.config] if self.config else []), self.split])


def parse_hub_source(source: str) -> HubSource | None:
    """The Hub split that ``source`` names, or None when it does not start with ``hub:``.

    Raises:
        TaskDataError: ``source`` starts with ``hub:`` but is not ``hub:DATASET[:CONFIG]:SPLIT``.
    """
    if not source.startswith(HUB_PREFIX):
        return None
    match = _HUB_SOURCE.match(source)
    if match is None:
        raise TaskDataError(
            f"Task source {source!r} is not a Hub source of the form {HUB_SYNTAX!r} (e.g. {HUB_EXAMPLE!r}, or "
            "'hub:openai/openai_humaneval:test'): the split is required, and dataset, config and split are names "
            "of letters, digits, '-', '_' and '.'. Choose a subset with train_ids / eval_ids or train_limit / "
            "eval_limit, not a split slice."
        )
    return HubSource(match["dataset"], match["config"], match["split"])


def load_hub_records(source: HubSource) -> tuple[list[dict[str, Any]], str | None]:
    """The records of a Hub split as dicts, and the local cache file they were read from (None if none).

    Raises:
        TaskDataError: The dataset, config or split does not exist or cannot be accessed, or the Hub cannot be
            reached (offline mode included); the message says which and how to fix it.
    """
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    try:
        data = datasets.load_dataset(source.dataset, source.config, split=source.split)
    except DatasetNotFoundError as exc:
        raise TaskDataError(
            f"Task source {str(source)!r}: {_sentence(exc)} Check the dataset id (namespace/name, as in its Hub URL); "
            "a private or gated dataset needs a token with access to it (HF_TOKEN, or huggingface_hub.login())."
        ) from None
    except ConnectionError as exc:
        raise TaskDataError(f"Task source {str(source)!r}: {_sentence(exc)} {_network_fix()}") from None
    except ValueError as exc:  # an unknown or missing config, an unknown split: the message lists those there are
        raise TaskDataError(
            f"Task source {str(source)!r}: {_sentence(exc)} Write the source as {HUB_SYNTAX!r} with a config and "
            "a split the dataset has."
        ) from None
    files = [entry["filename"] for entry in data.cache_files]
    return data.to_list(), (files[0] if files else None)


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text if text.endswith(".") else text + "."


def _network_fix() -> str:
    import datasets

    if datasets.config.HF_HUB_OFFLINE:
        return (
            "HF_HUB_OFFLINE is set and this split is not in the datasets cache. Unset HF_HUB_OFFLINE to download it, "
            "or load it once while online so that it is cached."
        )
    return (
        f"The Hub ({datasets.config.HF_ENDPOINT}) cannot be reached: check the network (or HF_ENDPOINT), or set "
        "HF_HUB_OFFLINE=1 to use a copy loaded before."
    )
