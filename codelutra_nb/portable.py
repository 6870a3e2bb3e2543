"""What a Hub store pushes instead of this machine's paths: placeholders another machine can read and resolve.

Text files (JSON, JSONL, notebooks, cards, logs) are pushed with each machine-local folder replaced: the store's root
by ``<store_dir>``, the model cache by ``<model_cache_dir>``, this checkout of the toolkit by ``<codelutra_nb>``, the
home folder by ``~``, and the folder of any other path parameter (task files, ``db_dir``) by ``<local>``; an adapter's
``base_model_name_or_path`` becomes the base model's Hub id where it has one. Binary files go as they are; a Trainer's
``training_args.bin`` (a pickle full of paths, not needed to resume) is not pushed at all.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEXT_SUFFIXES = (".json", ".jsonl", ".ipynb", ".md", ".txt", ".yaml", ".yml", ".csv")
NOT_PUSHED = ("training_args.bin",)
"""File names a Hub store never pushes (checkpoints: pickled arguments holding this machine's paths)."""
CHECKOUT = Path(__file__).resolve().parent.parent


class Portable:
    """Replaces this machine's folders in pushed text (see the module docstring).

    Args:
        root: The store's local folder.
        params: The run's parameters (`LoopConfig.to_dict()`); their path values are replaced too.
        base_model_id: The base model's Hub id, written into adapter configs; None keeps theirs (as text).
    """

    def __init__(self, root: Path, params: Mapping[str, Any] | None = None, base_model_id: str | None = None):
        self.base_model_id = base_model_id
        folders: dict[str, str] = {}
        for name, value in (params or {}).items():
            if isinstance(value, str) and name != "store_dir" and _looks_like_path(value):
                path = Path(value).expanduser().absolute()
                placeholder = "<model_cache_dir>" if name == "model_cache_dir" else "<local>"
                folders[str(path if path.is_dir() or name.endswith("_dir") else path.parent)] = placeholder
        folders[str(Path.home())] = "~"
        folders[str(CHECKOUT)] = "<codelutra_nb>"
        folders[str(root.absolute())] = "<store_dir>"
        folders[str(root.resolve())] = "<store_dir>"
        folders = {f: p for f, p in folders.items() if f not in ("/", "")}
        ordered = sorted(folders, key=len, reverse=True)  # the longest first: a store inside the home folder
        alternatives = "|".join(re.escape(f) for f in ordered)
        self._pattern = re.compile(f"(?:{alternatives})" + r"(?![\w.\-])") if ordered else None
        self._folders = folders

    def text(self, text: str) -> str:
        """``text`` with every machine-local folder replaced by its placeholder."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._folders[m.group(0)], text)

    def value(self, value: Any) -> Any:
        """A JSON value with its strings made portable (provenance compares these across machines)."""
        return json.loads(self.text(json.dumps(value)))

    def file(self, path: Path) -> bytes | None:
        """What to push for the local file ``path``: its bytes made portable; None for files never pushed."""
        if path.name in NOT_PUSHED:
            return None
        data = path.read_bytes()
        if path.suffix not in TEXT_SUFFIXES:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        if path.name == "adapter_config.json" and self.base_model_id:
            config = json.loads(text)
            config["base_model_name_or_path"] = self.base_model_id
            text = json.dumps(config, indent=2, sort_keys=True) + "\n"
        return self.text(text).encode("utf-8")


def _looks_like_path(value: str) -> bool:
    if "\n" in value or len(value) > 4096:  # a prompt template, not a path
        return False
    if value.startswith(("/", "~", "./", "../")):
        return True
    try:
        return os.sep in value and Path(value).expanduser().exists()
    except OSError:  # a name too long for the file system
        return False
