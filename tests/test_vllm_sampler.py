"""`sampler: vllm`: the engine in a child process (vLLM's CPU build here), M(t) merged, the transformers sampler's
prompts and stop rules. The engine tests need vLLM (`make setup-vllm`, or CODELUTRA_VLLM_PYTHON naming an interpreter
that has it) and skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codelutra_nb import sampling
from codelutra_nb.config import ModelParams
from codelutra_nb.errors import ModelError
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, TransformersSampler, VLLMSampler


def _engine_python() -> str | None:
    try:
        return sampling.vllm_python(os.environ.get("CODELUTRA_VLLM_PYTHON"))
    except ModelError:
        return None


needs_vllm = pytest.mark.skipif(
    _engine_python() is None, reason="no vLLM: run `make setup-vllm` (or set CODELUTRA_VLLM_PYTHON)"
)


def test_without_vllm_the_sampler_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sampling, "VLLM_ENV", tmp_path / "none")
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as missing:
        sampling.vllm_python(None)
    assert "make setup-vllm" in str(missing.value) and "sampler: transformers" in str(missing.value)
    assert "\n" not in str(missing.value)


def _adapter(base: Path, out: Path, rank: int) -> Path:
    """A LoRA adapter of ``rank`` on the embedded model with small random weights: an M(1) unlike M(0)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_" in name:
                param.mul_(0.05)
    peft.save_pretrained(out)
    return out


@needs_vllm
@pytest.mark.parametrize(
    ("served", "questions", "least_same"),
    [("merge", 20, 18), ("lora", 6, 5)],  # vLLM's CPU LoRA kernels are slow: fewer questions
)
def test_m1_under_vllm_writes_what_the_transformers_sampler_writes(
    embedded_dir: Path, tmp_path: Path, served: str, questions: int, least_same: int
) -> None:
    """Demo questions, greedy, float32: an adapter of rank 12 (not one of vLLM's LoRA ranks: rounded up to 16 for a
    LoRA request), merged or as a LoRA request under vLLM, and on under transformers; both cut by the SQL kind's
    stop rule."""
    model = ModelParams(base_model=str(embedded_dir), dtype="float32", model_cache_dir=str(tmp_path / "cache"))
    adapter = _adapter(embedded_dir, tmp_path / "adapter", rank=12)
    from codelutra_nb.config import load_config

    cfg = load_config("demo", base_model=str(embedded_dir), dtype="float32", model_cache_dir=str(tmp_path / "cache"))
    cfg = cfg.replace(vllm_python=_engine_python(), vllm_adapter=served)
    tasks = list(load_tasks(cfg.tasks, "eval").values())[:questions]
    conversations = [messages_for(task, cfg.tasks) for task in tasks]
    settings = GenerationSettings(1, 0.0, 1.0, 96, greedy=True, stop=get_kind("sql").code_complete)

    engine = VLLMSampler.create(model, adapter, batch_size=16, desc="vllm", cfg=cfg)
    try:
        by_vllm = [texts[0] for texts in engine.generate(conversations, settings, seed=0)]
    finally:
        engine.close()
    assert engine.process.poll() is not None  # no engine process is left
    by_transformers = [
        texts[0]
        for texts in TransformersSampler.create(model, adapter, batch_size=16, desc="hf").generate(
            conversations, settings, seed=0
        )
    ]
    same = sum(a == b for a, b in zip(by_vllm, by_transformers))
    assert same >= least_same, list(zip(by_vllm, by_transformers))
    assert (tmp_path / "cache" / "merged").is_dir() == (served == "merge")  # a LoRA request needs no merged copy
    assert any(text != "" for text in by_vllm)


@needs_vllm
def test_an_engine_that_dies_fails_the_call_with_its_last_lines(embedded_dir: Path, tmp_path: Path) -> None:
    from codelutra_nb.config import load_config

    cfg = load_config("demo", base_model=str(embedded_dir), dtype="float32").replace(vllm_python=_engine_python())
    engine = VLLMSampler.create(cfg.model, None, batch_size=16, desc="vllm", cfg=cfg)
    engine.process.kill()
    conversation = [{"role": "user", "content": "SELECT 1?"}]
    with pytest.raises(ModelError, match="The vLLM engine process ended while generating 1 x 1 sequences"):
        engine.generate([conversation], GenerationSettings(1, 0.0, 1.0, 8, greedy=True), seed=0)


def test_auto_runs_the_transformers_sampler_without_vllm_and_says_so(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from codelutra_nb.config import load_config

    monkeypatch.setattr(sampling, "VLLM_ENV", tmp_path / "none")
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    cfg = load_config("demo", base_model=str(tiny_model_dir), sampler="auto")
    chosen = sampling.make_sampler("auto", cfg.model, None, batch_size=2, desc="sampling M(0)", cfg=cfg)
    assert isinstance(chosen, TransformersSampler)
    assert "sampling M(0): the transformers sampler runs (sampler: auto; no vLLM here" in capsys.readouterr().out


def test_auto_falls_back_when_the_engine_does_not_start(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import sys

    from codelutra_nb.config import load_config

    # this interpreter has no vLLM: the engine process ends at once, and auto says why it samples without it
    cfg = load_config("demo", base_model=str(tiny_model_dir), sampler="auto", vllm_python=sys.executable)
    chosen = sampling.make_sampler("auto", cfg.model, None, batch_size=2, desc="sampling M(0)", cfg=cfg)
    assert isinstance(chosen, TransformersSampler)
    said = capsys.readouterr().out
    assert f"vLLM in {sys.executable} did not start: The vLLM engine process ended while starting the engine" in said
