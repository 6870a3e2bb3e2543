"""Stage 4: one epoch of LoRA / QLoRA with the dual loss L = L_DPO + lambda * L_SFT(chosen).

TRL's DPOTrainer does the work: ``loss_type=["sigmoid", "sft"]`` with
``loss_weights=[1, lambda]`` is the dual loss. Iteration t keeps training the
adapter of iteration t-1; given a PeftModel that already holds it, DPOTrainer
copies it as the frozen reference adapter, so the reference is M(t-1).
``reference="base"`` pins the reference to the base model instead.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from trl import DPOTrainer

from .config import LoopConfig

logger = logging.getLogger(__name__)

TRAIN_LOG = "training_log.json"


@dataclass
class TrainResult:
    """What training left: the adapter folder and the Trainer's log (losses, rewards per step)."""

    adapter_dir: Path
    log_history: list[dict]


def lora_config(cfg: LoopConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_targets, task_type="CAUSAL_LM")


def dpo_config(cfg: LoopConfig, output_dir: Path, n_rows: int, hub_args: dict | None = None):
    """TRL's DPOConfig for the dual loss and the optimiser settings in ``cfg`` (``hub_args``: checkpoint pushing)."""
    from trl import DPOConfig

    dtype = _dtype_flags(cfg)
    steps_per_epoch = max(1, -(-n_rows // (cfg.train_batch_size * cfg.grad_accum)))
    return DPOConfig(
        output_dir=str(output_dir),
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, cfg.sft_weight],
        beta=cfg.beta,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.train_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        max_length=cfg.max_length,
        precompute_ref_log_probs=cfg.precompute_ref,
        seed=cfg.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, steps_per_epoch // 4),
        save_total_limit=1,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
        **dtype,
        **({"gradient_checkpointing": True} if cfg.gradient_checkpointing else {}),
        **(hub_args or {}),
    )


def train_adapter(cfg: LoopConfig, dataset: Dataset, output_dir: Path, previous_adapter: Path | None,
                  checkpoint_dir: Path, *, hub_args: dict | None = None, resume_from: Path | None = None) -> TrainResult:
    """Train M(t) from M(t-1) = base + ``previous_adapter`` and save the adapter to ``output_dir``.

    Checkpoints go to ``checkpoint_dir`` (and to the Hub with ``hub_args``); a rerun after a crash resumes
    from the last one there, or from ``resume_from`` (a checkpoint pulled from the Hub).
    """
    from peft import PeftModel, get_peft_model, load_peft_weights, prepare_model_for_kbit_training, \
        set_peft_model_state_dict
    from transformers import set_seed

    from .models import load_base_model, load_tokenizer

    set_seed(cfg.seed)  # the fresh LoRA weights are drawn before the Trainer seeds anything
    tokenizer = load_tokenizer(cfg)
    tokenizer.padding_side = "right"
    model = load_base_model(cfg)
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    pin_to_base = cfg.reference == "base" and previous_adapter is not None
    if previous_adapter is not None and not pin_to_base:
        model = PeftModel.from_pretrained(model, str(previous_adapter), is_trainable=True)
    else:
        model = get_peft_model(model, lora_config(cfg))  # zero-initialised: the reference copy is the base model
    train_rows = dataset.select_columns(["prompt", "chosen", "rejected"])
    trainer = _DPOTrainer(model=model, args=dpo_config(cfg, checkpoint_dir, len(train_rows), hub_args),
                         train_dataset=train_rows, processing_class=tokenizer)
    if pin_to_base:
        # The reference (frozen copy, or precomputed log-probs) is already the base model: now start from M(t-1).
        set_peft_model_state_dict(trainer.model, load_peft_weights(str(previous_adapter)), adapter_name="default")
    if any(checkpoint_dir.glob("checkpoint-*")):
        trainer.train(resume_from_checkpoint=True)
    else:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(output_dir), selected_adapters=["default"])
    history = trainer.state.log_history
    (output_dir / TRAIN_LOG).write_text(json.dumps(history, indent=1))
    return TrainResult(output_dir, history)


class _DPOTrainer(DPOTrainer):
    """DPOTrainer whose checkpoints carry no PEFT model card: that card names a local base model path as
    ``base_model``, which the Hub refuses, so checkpoint pushes of a locally stored base model would fail."""

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        Path(output_dir or self.args.output_dir, "README.md").unlink(missing_ok=True)


def _dtype_flags(cfg: LoopConfig) -> dict:
    from .models import torch_dtype

    dtype = torch_dtype(cfg)
    if not torch.cuda.is_available():
        return {}
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16}
