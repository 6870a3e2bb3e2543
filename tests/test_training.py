import json
import math

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from codelutra_nb.methods.trainers import DPO, KTO, SFT
from codelutra_nb.training import common_trainer_args, train_adapter

LN2 = math.log(2)


@pytest.fixture
def pairs() -> Dataset:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"How many rows are in table t{i}?"}],
            "chosen": [{"role": "assistant", "content": f"SELECT count(*) FROM t{i};"}],
            "rejected": [{"role": "assistant", "content": "I think there are many rows."}],
            "task_id": str(i),
        }
        for i in range(8)
    ]
    return Dataset.from_list(rows)


def _steps(result) -> list[dict]:
    return [h for h in result.log_history if "rewards/margins" in h]


def _train(cfg, pairs, tmp_path, name, previous=None):
    return train_adapter(
        cfg.model,
        cfg.training,
        cfg.method.make_trainer(),
        pairs,
        tmp_path / name,
        previous,
        tmp_path / f"{name}-checkpoints",
        seed=cfg.run.seed,
    )


def test_dual_loss_is_dpo_plus_lambda_times_sft(tiny_cfg, pairs, tmp_path):
    """At the first step the policy equals the reference, so L_DPO = ln 2 and L = ln 2 + lambda * L_SFT."""
    first = {
        lam: _steps(_train(tiny_cfg.replace(sft_weight=lam), pairs, tmp_path, f"lam{lam}"))[0]["loss"]
        for lam in (0.0, 1.0, 2.0)
    }
    assert first[0.0] == pytest.approx(LN2, abs=1e-4)
    sft = first[1.0] - LN2
    assert sft > 1.0  # a random model is far from the chosen answers
    assert first[2.0] - LN2 == pytest.approx(2 * sft, rel=1e-3)


def test_iteration_two_continues_m1_and_uses_m1_as_reference(tiny_cfg, pairs, tmp_path):
    cfg = tiny_cfg.replace(learning_rate=5e-3)
    it1 = _train(cfg, pairs, tmp_path, "it1")
    assert (it1.adapter_dir / "adapter_config.json").exists()
    assert json.loads((it1.adapter_dir / "training_log.json").read_text()) == it1.log_history
    it2 = _train(cfg, pairs, tmp_path, "it2", previous=it1.adapter_dir)
    s1, s2 = _steps(it1), _steps(it2)
    # Reference = M(1): the policy starts as M(1), so rewards are zero at the first step of iteration 2 ...
    assert s2[0]["rewards/chosen"] == pytest.approx(0, abs=1e-6) and s2[0]["rewards/margins"] == pytest.approx(
        0, abs=1e-6
    )
    # ... and the policy is M(1), not the base model: it already prefers the chosen answers more than M(0) did.
    assert s2[0]["logps/chosen"] - s2[0]["logps/rejected"] > s1[0]["logps/chosen"] - s1[0]["logps/rejected"] + 1.0
    # Pinning the reference to the base model: the same start now shows M(1)'s margin over the base.
    pinned = _steps(_train(cfg.replace(reference="base"), pairs, tmp_path, "pinned", previous=it1.adapter_dir))
    assert pinned[0]["logps/chosen"] == pytest.approx(s2[0]["logps/chosen"], rel=1e-4)
    assert pinned[0]["rewards/margins"] > 0.1


def test_qlora_4bit_trains_on_cpu(tiny_cfg, pairs, tmp_path):
    import bitsandbytes as bnb

    from codelutra_nb.models import load_base_model

    cfg = tiny_cfg.replace(load_in_4bit=True, learning_rate=5e-3)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in load_base_model(cfg.model).modules())
    result = _train(cfg, pairs, tmp_path, "qlora")
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    lora_b = [w for k, w in weights.items() if "lora_B" in k]
    assert lora_b and any(torch.count_nonzero(w) > 0 for w in lora_b)  # B starts at zero; training moved it
    assert _steps(result)[-1]["rewards/margins"] > 0


@pytest.mark.parametrize("flag", [False, True])
@pytest.mark.parametrize("trainer", [DPO(1.0), DPO(0.0), KTO(), SFT()], ids=["dpo+sft", "dpo", "kto", "sft"])
def test_gradient_checkpointing_parameter_reaches_the_trainer_both_ways(tiny_cfg, tmp_path, trainer, flag):
    # TRL defaults gradient_checkpointing to True: False must be passed explicitly, or every run recomputes activations
    cfg = tiny_cfg.replace(gradient_checkpointing=flag)
    rows = Dataset.from_list([{"prompt": "p", "completion": "c", "label": i % 2 == 0} for i in range(4)])
    common = common_trainer_args(cfg.model, cfg.training, tmp_path, len(rows), seed=0)
    args = trainer.config(cfg.training, common, rows)
    assert args.activation_checkpointing is flag and args.gradient_checkpointing is flag
