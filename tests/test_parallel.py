"""More than one process (codelutra_nb.parallel): stages under ``accelerate launch`` on the tiny model, over gloo on
this CPU machine, against one process; and what one process decides when it sees several GPUs (faked here).

What only GPUs can confirm (NCCL, two real GPUs, FSDP and DeepSpeed) is in benchmarks/gpu_multi_check.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hub_server import USER, HubServer
from transformers import AutoModelForCausalLM

from codelutra_nb import models, parallel, stages
from codelutra_nb.config import LoopConfig
from codelutra_nb.errors import StoreError
from codelutra_nb.jsonl import read_jsonl
from codelutra_nb.layout import TRAINING_LOG
from codelutra_nb.methods.trainers import DPO
from codelutra_nb.models import load_base_model
from codelutra_nb.store import open_store
from codelutra_nb.training import common_trainer_args, one_gpu_per_process

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL_BATCHES = dict(sample_batch_size=2, eval_batch_size=1)
"""Several generate batches per call, so that both processes generate some."""


def _launch(cfg: LoopConfig, tmp_path: Path, *stage_names: str) -> None:
    """``accelerate launch --num_processes 2 -m codelutra_nb run STAGES`` by hand, as a user would type it."""
    preset = tmp_path / "launched.yaml"
    preset.write_text(yaml.safe_dump(cfg.to_dict()))
    command = parallel.launch_command(cfg, list(stage_names), preset, tmp_path / "summary.json")
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_sampling_and_evaluation_in_two_processes_write_what_one_process_writes(tiny_cfg, tmp_path):
    one = tiny_cfg.replace(store_dir=str(tmp_path / "one"), **SMALL_BATCHES)
    stages.run_stages(one, ["baseline", "sample"])
    two = one.replace(store_dir=str(tmp_path / "two"), num_processes=2)
    _launch(two, tmp_path, "baseline", "sample")
    for t, artifact in ((1, "samples"), (0, "evaluation")):
        ours, theirs = open_store(one, check=False).path(t, artifact), open_store(two, check=False).path(t, artifact)
        assert theirs.read_bytes() == ours.read_bytes(), artifact
    samples = read_jsonl(open_store(two, check=False).path(1, "samples"))
    assert len(samples) == 4 * 2 and all(s["completion"] for s in samples)  # 4 batches of 2: each process took 2
    summary = json.loads((tmp_path / "summary.json").read_text())["summaries"]
    assert [s["stage"] for s in summary] == ["baseline", "sample"] and summary[1]["samples"] == 8


def _commits(hub: HubServer, cfg: LoopConfig) -> dict[str, list[str]]:
    """Every commit's title per repo (model and dataset), and the model repo's branches."""
    model, data = hub.repo(cfg.run.hub_model_repo), hub.repo(cfg.run.hub_dataset_repo, "dataset")
    return {
        "model": sorted(c.title for c in model.commits.values()),
        "dataset": sorted(c.title for c in data.commits.values()),
        "branches": sorted(model.branches),
    }


def _written(cfg: LoopConfig) -> set[str]:
    """The store's files, but the Trainer's checkpoints (one RNG state per process) and the caches of the Hub client
    and of `datasets` (``cache-*.arrow`` beside the training rows; the Hub store never pushes them)."""
    root = Path(cfg.run.store_dir)
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not {"checkpoints", ".cache"} & set(p.parts) and not p.name.startswith("cache-")
    }


def test_train_stage_in_two_processes_saves_writes_and_pushes_once(tiny_cfg, tmp_path, hub):
    """num_processes: 2 launches the stage; the loss is one process's with the same global batch (4 rows)."""
    runs = {}
    for name, processes, batch in (("one", 1, 4), ("two", 2, 2)):
        repos = dict(hub_model_repo=f"{USER}/{name}-adapters", hub_dataset_repo=f"{USER}/{name}-data")
        cfg = tiny_cfg.replace(store_dir=str(tmp_path / name), train_batch_size=batch, **repos)
        store = open_store(cfg)
        stages.run_stages(cfg, ["sample", "verify", "pair"], store)
        before = _commits(hub, cfg)
        cfg = cfg.replace(num_processes=processes)
        summary = stages.run_stages(cfg, ["train"], store)[0]
        after = _commits(hub, cfg)
        new = {key: [c for c in after[key] if c not in before[key] or after[key].count(c) > 1] for key in after}
        log = json.loads((store.path(1, "adapter") / TRAINING_LOG).read_text())
        runs[name] = (summary, new, _written(cfg), [h["loss"] for h in log if "loss" in h and "grad_norm" in h])
    (summary1, hub1, files1, loss1), (summary2, hub2, files2, loss2) = runs["one"], runs["two"]
    assert hub2 == hub1 and hub1["model"]  # the same commits and branches: rank 0 alone pushed
    assert files2 == files1  # one adapter, one set of store files
    assert json.loads((tmp_path / "two/iter-1/provenance.json").read_text())["adapter"]["params"]["num_processes"] == 2
    assert summary2["steps"] == summary1["steps"] == len(loss1) == len(loss2) == 2
    # DDP averages the processes' losses (each a mean over its 2 rows): close to, not bitwise, one process's mean
    assert loss2 == pytest.approx(loss1, rel=1e-2)


def test_an_error_in_rank_0_is_raised_as_itself(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(store_dir=str(tmp_path / "store"), num_processes=2)
    with pytest.raises(StoreError, match="has no 'preferences'"):
        stages.train_stage(cfg, open_store(cfg))


def test_vllm_keeps_sampling_in_one_process(tiny_cfg, tmp_path, capsys):
    cfg = tiny_cfg.replace(store_dir=str(tmp_path / "store"), num_processes=2, sampler="vllm")
    assert stages._launched(cfg, open_store(cfg), "sample", 1) is None  # nothing launched
    assert "sample: one process (sampler vllm" in capsys.readouterr().out
    assert parallel.launches(cfg, "train") and not parallel.launches(cfg.replace(num_processes=1), "train")


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine that shows two GPUs, as far as the decisions below look (nothing runs on them)."""
    from accelerate.state import AcceleratorState

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)  # forget the fake devices


def test_one_process_seeing_two_gpus_trains_on_one_and_says_how_to_use_both(tiny_cfg, tmp_path, two_gpus, capsys):
    common = common_trainer_args(tiny_cfg.model, tiny_cfg.training, tmp_path, 8, seed=0)
    args = DPO(1.0).config(tiny_cfg.training, common, None)
    assert args.n_gpu == 2 and args.train_batch_size == 4  # the Trainer would wrap in DataParallel, batch 2 x 2
    one_gpu_per_process(args)
    assert args.n_gpu == 1 and args.train_batch_size == tiny_cfg.training.train_batch_size == 2
    assert str(args.device) == "cuda:0"
    assert "num_processes: 2 trains on all of them" in capsys.readouterr().out
    assert "num_processes: 2 runs the sample, train and evaluate" in parallel.unused_gpus_line(1)
    assert parallel.unused_gpus_line(2) is None


@pytest.mark.parametrize("engine", ["ddp", "fsdp"])
def test_each_process_loads_the_model_on_its_own_gpu(tiny_cfg, two_gpus, monkeypatch, engine):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    if engine == "fsdp":
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    asked = {}
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda name, **kwargs: asked.update(kwargs))
    monkeypatch.setattr(models, "check_kernels", lambda: None)  # the faked GPUs have no kernels to check
    load_base_model(tiny_cfg.replace(load_in_4bit=True).model)
    quantization = asked["quantization_config"]
    if engine == "ddp":  # QLoRA's batch goes where its model is: this process's GPU, not GPU 0
        assert asked["device_map"] == {"": 1} and quantization.bnb_4bit_quant_storage == torch.uint8
    else:  # FSDP places the model itself, and shards 4-bit weights stored as floats
        assert "device_map" not in asked and quantization.bnb_4bit_quant_storage == torch.float32


def test_shipped_accelerate_configs_are_accelerates_own(tiny_cfg, tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    kinds = {"ddp": DistributedType.MULTI_GPU, "fsdp": DistributedType.FSDP, "deepspeed": DistributedType.DEEPSPEED}
    for engine, kind in kinds.items():
        loaded = load_config_from_file(str(parallel.ACCELERATE_CONFIGS / f"{engine}.yaml"))
        assert loaded.distributed_type == kind and loaded.num_machines == 1
        cfg = tiny_cfg.replace(num_processes=4, distributed=engine)
        train = parallel.launch_command(cfg, ["train"], tmp_path / "p.yaml", tmp_path / "s.json")
        sample = parallel.launch_command(cfg, ["sample"], tmp_path / "p.yaml", tmp_path / "s.json")
        assert train[train.index("--config_file") + 1].endswith(f"{engine}.yaml")
        assert sample[sample.index("--config_file") + 1].endswith("ddp.yaml")  # a whole model per process
        assert train[train.index("--num_processes") + 1] == "4" and train[0] == sys.executable
