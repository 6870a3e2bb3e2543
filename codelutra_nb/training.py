"""Stage 4's shared part: M(t) = M(t-1) trained for one epoch of LoRA / QLoRA by the method's TRL trainer.

Iteration t keeps training the adapter of iteration t-1; given a PeftModel that
already holds it, TRL's preference trainers copy it as the frozen reference
adapter, so the reference is M(t-1). ``reference="base"`` pins the reference to
the base model instead. The method (`codelutra_nb.methods`) picks the trainer and
its loss; everything else (model, adapter, checkpoints, saving) is here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from datasets import Dataset
from transformers import TrainerCallback

from . import parallel
from .config import ModelParams, TrainParams
from .layout import TRAINING_LOG
from .lm_head import labelled_positions_only
from .progress import say, terminal_bar
from .prompt_sharing import share_pair_prompts

if TYPE_CHECKING:
    from .methods.trainers import Trainer

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What training left: the adapter folder and the Trainer's log (losses, rewards per step)."""

    adapter_dir: Path | None
    """None in a process other than rank 0 of a group (it saves nothing)."""
    log_history: list[dict]


def lora_config(training: TrainParams):
    from peft import LoraConfig

    return LoraConfig(
        r=training.lora_r,
        lora_alpha=training.lora_alpha,
        lora_dropout=training.lora_dropout,
        target_modules=training.lora_targets,
        task_type="CAUSAL_LM",
    )


def common_trainer_args(
    model: ModelParams, training: TrainParams, output_dir: Path, n_rows: int, *, seed: int
) -> dict[str, Any]:
    """Trainer arguments every method shares: optimiser, checkpoints (about four per epoch, whatever the number of
    processes), precision."""
    global_batch = training.train_batch_size * training.grad_accum * parallel.group().size
    steps_per_epoch = max(1, -(-n_rows // global_batch))
    return dict(
        output_dir=str(output_dir),
        learning_rate=training.learning_rate,
        weight_decay=training.weight_decay,
        num_train_epochs=training.epochs,
        per_device_train_batch_size=training.train_batch_size,
        gradient_accumulation_steps=training.grad_accum,
        seed=seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, steps_per_epoch // 4),
        save_total_limit=1,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
        ddp_find_unused_parameters=False,  # LoRA: every trainable weight takes part in each step
        **_dtype_flags(model),
        # always passed: TRL defaults it to True (transformers 5 calls it activation_checkpointing)
        activation_checkpointing=training.gradient_checkpointing,
    )


def train_adapter(
    model_params: ModelParams,
    training: TrainParams,
    trainer_kind: Trainer,
    dataset: Dataset,
    output_dir: Path | None,
    previous_adapter: Path | None,
    checkpoint_dir: Path,
    *,
    seed: int = 0,
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | None = None,
) -> TrainResult:
    """Train M(t) from M(t-1) = base + ``previous_adapter`` with ``trainer_kind``; save the adapter to ``output_dir``.

    Checkpoints go to ``checkpoint_dir`` (``callbacks`` may publish them: `CheckpointPusher`); a rerun after a crash
    resumes from the last one there, or from ``resume_from`` (a checkpoint pulled from the Hub). In a group of
    processes (`codelutra_nb.parallel`) every process calls this, and only rank 0 gives an ``output_dir``; the others
    give None and save nothing.
    """
    from peft import (
        PeftModel,
        get_peft_model,
        load_peft_weights,
        prepare_model_for_kbit_training,
        set_peft_model_state_dict,
    )
    from transformers import set_seed

    from .models import load_base_model, load_tokenizer

    set_seed(seed)  # the fresh LoRA weights are drawn before the Trainer seeds anything
    tokenizer = load_tokenizer(model_params)
    tokenizer.padding_side = "right"
    model = load_base_model(model_params)
    if model_params.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=training.gradient_checkpointing)
    pin_to_base = training.reference == "base" and previous_adapter is not None
    if previous_adapter is not None and not pin_to_base:
        model = PeftModel.from_pretrained(model, str(previous_adapter), is_trainable=True)
    else:
        model = get_peft_model(model, lora_config(training))  # zero-initialised: the reference copy is the base model
    if training.share_prompt and trainer_kind.pairs:
        share_pair_prompts(model.get_base_model().base_model)
    train_rows = dataset.select_columns(list(trainer_kind.columns))
    common = common_trainer_args(model_params, training, checkpoint_dir, len(train_rows), seed=seed)
    args = trainer_kind.config(training, common, train_rows)
    one_gpu_per_process(args)
    with labelled_positions_only():  # TRL precomputes the reference log-probs as the trainer is made
        trainer = _without_peft_card(trainer_kind.trainer_class())(
            model=model, args=args, train_dataset=train_rows, processing_class=tokenizer
        )
        trainer.add_callback(_TerminalProgress())
        for callback in callbacks:
            trainer.add_callback(callback)
        if pin_to_base:
            # The reference (frozen copy, or precomputed log-probs) is already the base model: now start from M(t-1).
            set_peft_model_state_dict(trainer.model, load_peft_weights(str(previous_adapter)), adapter_name="default")
        if any(checkpoint_dir.glob("checkpoint-*")):
            trainer.train(resume_from_checkpoint=True)
        else:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    weights = trainer.accelerator.get_state_dict(trainer.model_wrapped)  # every process: FSDP / ZeRO-3 gather it
    history = trainer.state.log_history
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(str(output_dir), selected_adapters=["default"], state_dict=weights)
        (output_dir / TRAINING_LOG).write_text(json.dumps(history, indent=1))
    return TrainResult(output_dir, history)


def one_gpu_per_process(args) -> None:
    """Keep a process that sees several GPUs on one: the Trainer would wrap the model in ``DataParallel`` (which
    `codelutra_nb.prompt_sharing` is not written for) and multiply the batch by the GPUs it sees, which for a 4-bit
    model (never wrapped) lands all of it on GPU 0. Says how to use them all (``num_processes``)."""
    visible = args.n_gpu
    if visible > 1:
        args._n_gpu = 1  # what the Trainer reads for DataParallel and for the batch size (transformers sets it so too)
        say(
            f"Training on one of the {visible} GPUs this process sees (cuda:0, {args.per_device_train_batch_size} "
            f"rows a step), not DataParallel: num_processes: {visible} trains on all of them (accelerate launch, "
            "started for you)."
        )


class _TerminalProgress(TrainerCallback):
    """Training steps with the last loss and reward margin on the terminal of a chain (`progress.terminal_bar`);
    the notebook shows the Trainer's own bar."""

    bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = terminal_bar(total=state.max_steps, desc="training", unit="step")
        self.bar.update(state.global_step)  # resumed from a checkpoint

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        shown = {"loss": "loss", "rewards/margins": "margin"}
        if self.bar is not None and logs:
            self.bar.set_postfix({name: logs[key] for key, name in shown.items() if key in logs}, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


def _without_peft_card(trainer_class: type) -> type:
    """``trainer_class`` whose checkpoints carry no PEFT model card: that card names a local base model path as
    ``base_model``, which the Hub refuses, so checkpoint pushes of a locally stored base model would fail."""

    class Trainer(trainer_class):  # type: ignore[misc, valid-type]
        def _save(self, output_dir: str | None = None, state_dict=None) -> None:
            super()._save(output_dir, state_dict)
            Path(output_dir or self.args.output_dir, "README.md").unlink(missing_ok=True)

    Trainer.__name__ = Trainer.__qualname__ = trainer_class.__name__
    return Trainer


def _dtype_flags(model: ModelParams) -> dict:
    """The Trainer's mixed precision on a GPU: bf16, or fp16 (autocast with a loss scaler; the trained LoRA weights
    stay float32: PEFT keeps adapters in float32 over a 16-bit base); none on a CPU, where the weights' dtype is it."""
    from .models import torch_dtype

    dtype = torch_dtype(model)
    if not torch.cuda.is_available():
        return {}
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16}
