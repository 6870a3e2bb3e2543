"""What a Hub store pushes instead of this machine's folders (codelutra_nb.portable)."""

from __future__ import annotations

import json
from pathlib import Path

from codelutra_nb.portable import Portable


def test_folders_become_placeholders_whole_names_only_longest_first(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = tmp_path / "spider"
    (data / "database").mkdir(parents=True)
    params = {
        "db_dir": str(data / "database"),
        "train_tasks": str(data / "train.json"),
        "model_cache_dir": str(tmp_path / "cache"),
        "prompt_template": "Answer with SQL.\n/" + "x" * 5000,  # not a path, and too long for one
        "base_model": "Qwen/Qwen2.5-Coder-7B-Instruct",
    }
    portable = Portable(store, params)

    text = " ".join(
        [
            f"{store}/iter-1/adapter",
            f"{store}2/other",  # another folder that starts with the same characters
            f"{data}/database/concert_singer/concert_singer.sqlite",
            f"{data}/train.json",
            f"{tmp_path}/cache/embedded",
            f"{Path.home()}/notes",
            "Qwen/Qwen2.5-Coder-7B-Instruct",
        ]
    )
    assert portable.text(text).split() == [
        "<store_dir>/iter-1/adapter",
        f"{store}2/other",
        "<local>/concert_singer/concert_singer.sqlite",
        "<local>/train.json",
        "<model_cache_dir>/embedded",
        "~/notes",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
    ]
    assert portable.value({"store_dir": str(store), "n": [str(store / "x"), 3]}) == {
        "store_dir": "<store_dir>",
        "n": ["<store_dir>/x", 3],
    }


def test_files_pushed_name_the_base_models_hub_id_and_pickles_stay(tmp_path: Path) -> None:
    store = tmp_path / "store"
    adapter = store / "iter-1" / "adapter"
    adapter.mkdir(parents=True)
    config = adapter / "adapter_config.json"
    config.write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "cache" / "smollm2"), "r": 8}))
    (adapter / "training_args.bin").write_bytes(b"\x80\x04pickle of " + str(store).encode())
    (adapter / "weights.safetensors").write_bytes(b"\x00\x01" + str(store).encode())
    portable = Portable(store, {"model_cache_dir": str(tmp_path / "cache")}, "HuggingFaceTB/SmolLM2-135M-Instruct")

    pushed = json.loads(portable.file(config))
    assert pushed == {"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 8}
    assert portable.file(adapter / "training_args.bin") is None
    assert portable.file(adapter / "weights.safetensors") == (adapter / "weights.safetensors").read_bytes()
    assert Portable(store).file(config) == config.read_bytes()  # no Hub id, no known folder in it: as it is
