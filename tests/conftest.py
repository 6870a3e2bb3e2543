"""Shared fixtures: a tiny randomly initialised chat model, the bundled SQL tasks, paths to ../shared."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import hub  # noqa: F401 - the loopback Hub for one test (tests/hub_server.py), in every module

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MODEL_CACHE = Path("~/.cache/codelutra_nb").expanduser()


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct converted to safetensors (converted once per machine)."""
    from codelutra_nb.models import embedded_model_dir

    return embedded_model_dir(MODEL_CACHE)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer Llama with random weights and the embedded model's tokenizer and chat template."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), embedded_dir)


TINY_PARAMS = dict(
    sampler="transformers",  # the same engine on every machine, whether it has vLLM (sampler: auto) or not
    num_samples=2,
    max_new_tokens=8,
    eval_max_new_tokens=8,
    train_limit=4,
    eval_limit=3,
    pairs_per_task=2,
    max_length=256,
    train_batch_size=2,
    workers=1,
    dtype="float32",
)
"""The demo preset shrunk for the tiny model (with ``base_model`` and ``store_dir``): seconds per stage."""


def make_tiny_model(out: Path, embedded_dir: Path) -> Path:
    """`tiny_model_dir`'s model, written to ``out`` (benchmarks/chain_overhead.py builds one too)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    for extra in ("chat_template.jinja",):
        if (embedded_dir / extra).exists() and not (out / extra).exists():
            shutil.copy(embedded_dir / extra, out / extra)
    return out


@pytest.fixture
def tiny_cfg(tiny_model_dir, tmp_path):
    """Demo config on the tiny model, small enough for unit tests (float32: the same numbers on every CPU)."""
    from codelutra_nb.config import load_config

    return load_config("demo", base_model=str(tiny_model_dir), store_dir=str(tmp_path / "store"), **TINY_PARAMS)


@pytest.fixture
def tiny_preset(tiny_model_dir, tmp_path) -> Path:
    """A preset file: the demo preset with `TINY_PARAMS` on the tiny model, its store in ``tmp_path / "store"``."""
    import yaml

    from codelutra_nb.config import read_preset

    values = read_preset("demo") | TINY_PARAMS
    values |= {"base_model": str(tiny_model_dir), "store_dir": str(tmp_path / "store")}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} not found: ../shared/data (beside the checkout) holds the public benchmark files "
            "these tests read; a fresh clone elsewhere has none."
        )
    return path


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """The tiny model gains nothing from a second thread, and on a busy 2-core machine loses several times over."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
