"""dtype and Trainer precision by compute capability, and the refusal of a GPU torch has no kernels for: a CPU test
that fakes the GPU through torch.cuda."""

import types

import pytest
import torch

from codelutra_nb import gpu, session
from codelutra_nb.config import ModelParams, TrainParams
from codelutra_nb.errors import DeviceError
from codelutra_nb.models import load_base_model, torch_dtype
from codelutra_nb.training import common_trainer_args

KAGGLE_TORCH = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
"""The archs of Kaggle's default CUDA 12.8 torch, as its warning lists them on a P100: no sm_60."""
CARD = {(6, 0): "Tesla P100-PCIE-16GB", (7, 5): "Tesla T4", (8, 0): "NVIDIA A100-SXM4-40GB", (9, 0): "NVIDIA H100"}


def fake_gpu(monkeypatch, capability, archs=KAGGLE_TORCH, total=15_835_660_288, free=15_500_000_000):
    """torch.cuda as on a machine with one GPU of ``capability`` (this machine has none)."""
    name = CARD.get(capability, "NVIDIA GPU")
    props = types.SimpleNamespace(name=name, total_memory=total, major=capability[0], minor=capability[1], uuid="u")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: list(archs))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # a T4 says so too (emulated)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, total))
    monkeypatch.setattr(gpu, "_smi_free_bytes", lambda uuid: None)


@pytest.mark.parametrize(
    ("capability", "dtype"),
    [((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)],
    ids=["T4", "A100", "H100"],
)
def test_auto_dtype_and_trainer_precision_follow_compute_capability(monkeypatch, tmp_path, capability, dtype):
    fake_gpu(monkeypatch, capability)
    assert torch_dtype(ModelParams()) == dtype
    args = common_trainer_args(ModelParams(), TrainParams(), tmp_path, 8, seed=0)
    # fp16: autocast with a loss scaler (accelerate's GradScaler); bf16 needs none
    assert (args["fp16"], args["bf16"], args["use_cpu"]) == (dtype == torch.float16, dtype == torch.bfloat16, False)
    explicit = common_trainer_args(ModelParams(dtype="float32"), TrainParams(), tmp_path, 8, seed=0)
    assert (explicit["fp16"], explicit["bf16"]) == (False, False)
    assert dtype == torch.float16 or "dtype auto: bfloat16" in session.banner(None)


def test_banner_names_the_card_its_memory_and_the_dtype(monkeypatch):
    fake_gpu(monkeypatch, (7, 5))
    line = session.banner("Kaggle secret HF_TOKEN")
    assert line.startswith("Tesla T4 (14.4 of 14.7 GiB free, compute capability 7.5)")
    assert "dtype auto: float16" in line and "Hub token from Kaggle secret HF_TOKEN" in line


def test_p100_with_kaggles_default_torch_is_refused_naming_the_fix(monkeypatch):
    fake_gpu(monkeypatch, (6, 0))
    with pytest.raises(DeviceError) as refused:
        session.start()
    message = str(refused.value)
    assert "Tesla P100-PCIE-16GB (compute capability 6.0)" in message and "sm_60" in message
    assert "GPU T4 x2" in message and "restart the session" in message

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded on a GPU torch cannot run on")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", loaded)
    with pytest.raises(DeviceError, match="no kernels"):
        load_base_model(ModelParams(base_model="Qwen/Qwen2.5-Coder-7B-Instruct"))


@pytest.mark.parametrize(
    ("capability", "archs"),
    [((6, 0), ["sm_50", "sm_60", "sm_70"]), ((8, 6), ["sm_80", "sm_90"]), ((12, 0), ["sm_90", "compute_90"])],
    ids=["P100 with a torch built for it", "same major, earlier minor", "PTX compiled on load"],
)
def test_a_gpu_torch_can_run_on_is_not_refused(monkeypatch, capability, archs):
    fake_gpu(monkeypatch, capability, archs=archs)
    gpu.check_kernels()
    fake_gpu(monkeypatch, capability, archs=["sm_75"] if capability != (7, 5) else ["sm_80"])
    with pytest.raises(DeviceError):
        gpu.check_kernels()
