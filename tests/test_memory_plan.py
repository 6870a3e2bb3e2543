"""The memory plan from config.json alone: every GPU preset fits its card, and a plan over the card stops a run
before any sampling, naming what to change."""

import json

import pytest
import torch
from conftest import TINY_PARAMS
from test_gpu import fake_gpu

from codelutra_nb import stages
from codelutra_nb.cli import main
from codelutra_nb.config import PARAMS_DIR, ModelParams, load_config
from codelutra_nb.errors import DeviceError
from codelutra_nb.gpu import CARDS, GIB
from codelutra_nb.memory_plan import MODEL_CONFIGS, ModelShape, advice, model_config, plan

QWEN_7B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
}
LLAMA_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}
GPU_PRESETS = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml") if load_config(p.stem).model.gpu is not None)


@pytest.fixture(params=[QWEN_7B, LLAMA_8B], ids=["qwen-7b", "llama-8b"])
def model_dir(request, tmp_path):
    """A folder holding only a config.json, as a Hub repo's would be before any weights are downloaded."""
    (tmp_path / "config.json").write_text(json.dumps(request.param))
    return tmp_path


def test_shape_and_parameter_count_come_from_the_config_alone(model_dir):
    shape = ModelShape.from_config(*model_config(ModelParams(base_model=str(model_dir))))
    qwen = shape.vocab == 152064
    # the models' published sizes: Qwen2.5-7B 7.61B (6.53B without embeddings), Llama-3.1-8B 8.03B
    assert shape.params / 1e9 == pytest.approx(7.62 if qwen else 8.03, abs=0.01)
    if qwen:
        assert (shape.params - 2 * shape.vocab * shape.hidden) / 1e9 == pytest.approx(6.53, abs=0.01)
    assert (shape.head_dim, shape.kv) == (128, 512 if qwen else 1024)


def test_gpu_presets_are_the_expected_ones():
    assert set(GPU_PRESETS) >= {"colab_t4", "kaggle_2xt4", "a100", "h100", "mbpp", "humaneval"}
    assert load_config("kaggle_2xt4").model.gpu == "2xt4" and CARDS["2xt4"].count == 2


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_every_gpu_preset_fits_its_card(preset, model_dir):
    cfg = load_config(preset, base_model=str(model_dir))
    memory = plan(cfg, CARDS[cfg.model.gpu])
    assert memory.fits, memory.text()
    assert [s.stage for s in memory.stages] == ["sampling", "training", "evaluation"]
    assert memory.dtype == ("float16" if cfg.model.gpu in ("t4", "2xt4") else "bfloat16")


@pytest.mark.parametrize("preset", sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
def test_each_presets_model_config_ships_with_the_toolkit(preset):
    config, where = model_config(load_config(preset).model)
    assert where.startswith(str(MODEL_CONFIGS)) and "num_hidden_layers" in config  # offline: nothing fetched


def test_the_plan_moves_with_the_parameters_that_shape_memory(model_dir):
    cfg = load_config("colab_t4", base_model=str(model_dir))
    t4 = CARDS["t4"]

    def stage(name, **changes):
        return {s.stage: s for s in plan(cfg.replace(**changes), t4).stages}[name]

    def peak(name, **changes):
        return stage(name, **changes).peak

    without = stage("training", gradient_checkpointing=False).parts["activations"]
    assert without > 5 * stage("training").parts["activations"]  # all L layers' activations kept, not one
    assert peak("training", train_batch_size=4) > peak("training", train_batch_size=2) > peak("training")
    assert peak("training", max_length=2048) > peak("training")
    assert peak("training", lora_r=64) > peak("training")
    assert peak("sampling", sample_batch_size=64) > peak("sampling") > peak("sampling", sample_batch_size=8)
    assert peak("evaluation", eval_max_new_tokens=4096) > peak("evaluation")  # the KV cache outgrows the prefill
    full = {s.stage: s for s in plan(cfg.replace(load_in_4bit=False), CARDS["a100-80"]).stages}
    quantized = {s.stage: s for s in plan(cfg, CARDS["a100-80"]).stages}
    shape = ModelShape.from_config(*model_config(cfg.model))
    assert full["sampling"].parts["weights"] == 2 * shape.params  # bfloat16 on an A100
    assert quantized["sampling"].parts["weights"] < 0.4 * full["sampling"].parts["weights"]
    # 4-bit training keeps the embeddings and head in float32 (prepare_model_for_kbit_training)
    embeddings = 2 * shape.vocab * shape.hidden
    assert quantized["training"].parts["weights"] > quantized["sampling"].parts["weights"] + embeddings


def test_a_plan_over_the_card_refuses_before_any_sampling_naming_what_to_change(model_dir, tmp_path, monkeypatch):
    fake_gpu(monkeypatch, (7, 5), free=int(14.5 * GIB))  # a T4 with a little in use
    cfg = load_config(
        "colab_t4",
        base_model=str(model_dir),
        store_dir=str(tmp_path / "store"),
        train_batch_size=4,
        gradient_checkpointing=False,
        **{k: v for k, v in TINY_PARAMS.items() if k not in ("train_batch_size", "dtype")},
    )

    def sampling(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(stages, "make_sampler", sampling)
    with pytest.raises(DeviceError) as refused:
        stages.run_stages(cfg, ["sample", "verify", "pair", "train", "evaluate"])
    message = str(refused.value)
    assert "Tesla T4" in message and "training needs" in message and "Nothing was run." in message
    assert 'Change: -y "params: {gradient_checkpointing: true' in message
    assert not (tmp_path / "store" / "iter-1").exists()

    shape = ModelShape.from_config(*model_config(cfg.model))
    changes, fixed = advice(cfg, CARDS["t4"], shape)
    assert fixed.fits and changes["gradient_checkpointing"] is True
    assert changes.get("train_batch_size", 4) * changes.get("grad_accum", 1) == 4  # the same global batch
    with pytest.raises(AssertionError, match="sampling started"):  # the plan passes: the run goes on to sample
        stages.run_stages(cfg.replace(**changes), ["sample"])


def test_params_plan_prints_the_plan_and_exits_2_when_it_does_not_fit(model_dir, capsys):
    assert main(["params", "--preset", "colab_t4", "--plan", "--set", f"base_model={model_dir}"]) == 0
    out = capsys.readouterr().out
    assert "on NVIDIA T4 16 GB (Colab)" in out and out.count(": fits") == 3  # the preset's gpu: t4
    over = ["--set", "gradient_checkpointing=false", "--set", "train_batch_size=4", "--set", f"base_model={model_dir}"]
    assert main(["params", "--preset", "mbpp", "--plan", "--gpu", "t4", *over]) == 2
    captured = capsys.readouterr()
    assert "DOES NOT FIT" in captured.out and "gradient_checkpointing: true" in captured.err
    half = ["--set", "gradient_checkpointing=false", "--set", "train_batch_size=2", "--set", f"base_model={model_dir}"]
    assert main(["params", "--preset", "mbpp", "--plan", "--gpu", "h100", *half]) == 0  # what a T4 cannot, an H100 can


def test_no_plan_on_a_cpu(tiny_cfg, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from codelutra_nb.memory_plan import preflight

    assert preflight(tiny_cfg, {"sample", "train", "evaluate"}) is None
