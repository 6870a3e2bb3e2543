"""`sampler: vllm` (or ``auto``) with ``vllm_url``: M(t) from a vLLM OpenAI-compatible server someone runs, on other
GPUs or machines, with vLLM's own tensor and data parallelism.

The server serves the base model; M(t) = base + adapter is loaded into it as a LoRA adapter at run time (the server
runs with ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``, and reads the adapter folder by its path,
so it must see the store's folder). Prompts go as token ids of this side's tokenizer and the completions come back as
token ids, cut by the transformers sampler's rules (`sampling._cut`), so the programs are those the other samplers
write.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .config import ModelParams
from .errors import ModelError
from .progress import progress_bar, say
from .sampling import Conversation, GenerationSettings, _cut, prompt_ids, vllm_settings

IN_FLIGHT = 8
"""Requests sent at once: the server batches them together."""
SERVER_COMMAND = (
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True python -m vllm.entrypoints.openai.api_server --model BASE_MODEL "
    "--enable-lora --max-lora-rank 64"
)


class VLLMServerSampler:
    """The `Sampler` of a vLLM server at ``url`` serving ``served`` (the base model, or M(t)'s adapter by name)."""

    def __init__(self, url: str, served: str, tokenizer, batch_size: int, desc: str):
        self.url, self.served, self.tokenizer = url, served, tokenizer
        self.batch_size, self.desc = batch_size, desc

    @classmethod
    def create(
        cls, model: ModelParams, adapter: Path | None, *, url: str, batch_size: int, desc: str
    ) -> VLLMServerSampler:
        from .models import adapter_digest, load_tokenizer

        url = url.rstrip("/")
        listed = _request(url, "/v1/models")["data"]
        bases = [m["id"] for m in listed if m.get("parent") is None]
        if len(bases) != 1:
            raise ModelError(f"The vLLM server at {url} serves {bases or 'no model'}; give it the base model alone.")
        served = bases[0]
        if adapter is not None:
            served = "codelutra-" + adapter_digest(adapter)  # loaded once per adapter
            if served not in {m["id"] for m in listed}:
                _load_adapter(url, served, adapter)
        what = "the base model" if adapter is None else f"base + adapter as LoRA adapter {served}"
        say(f"{desc}: the vLLM server at {url} runs it, serving {what} (on {bases[0]}; base_model {model.base_model}).")
        return cls(url, served, load_tokenizer(model), batch_size, desc)

    def generate(
        self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int
    ) -> list[list[str]]:
        tok = self.tokenizer
        prompts = prompt_ids(tok, conversations)
        chunks = [prompts[i : i + self.batch_size] for i in range(0, len(prompts), self.batch_size)]
        base = {"model": self.served, **vllm_settings(tok, settings), "return_token_ids": True}
        bar = progress_bar(total=len(prompts) * settings.n, desc=self.desc, unit="seq", mininterval=2.0)

        def complete(index: int) -> list[list[str]]:
            body = base | {"prompt": chunks[index], "seed": seed + index}
            choices = sorted(_request(self.url, "/v1/completions", body)["choices"], key=lambda c: c["index"])
            bar.update(len(choices))
            ids = [c["token_ids"] for c in choices]
            return [[_cut(tok, x, settings) for x in ids[i : i + settings.n]] for i in range(0, len(ids), settings.n)]

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            results = [texts for chunk in pool.map(complete, range(len(chunks))) for texts in chunk]
        bar.close()
        return results


def _load_adapter(url: str, name: str, adapter: Path) -> None:
    try:
        _request(url, "/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(Path(adapter).resolve())})
    except ModelError as err:
        raise ModelError(
            f"The vLLM server at {url} did not load the adapter {adapter} ({err}). It must run with --enable-lora, "
            f"a --max-lora-rank at least the adapter's rank and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (e.g. "
            f"`{SERVER_COMMAND}`), and see the adapter's folder at that path."
        ) from None


def _request(url: str, path: str, body: dict | None = None) -> dict:
    """One call of the server's API: GET without ``body``, else POST of it as JSON; its JSON answer (a text answer as
    ``{"text": ...}``), or `ModelError` saying what failed."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3600) as answer:
            text = answer.read()
        return json.loads(text) if answer.headers.get_content_type() == "application/json" else {"text": text.decode()}
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise ModelError(f"The vLLM server at {url} answered {path} with HTTP {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ModelError(
            f"No vLLM server answers at {url} ({reason}). Start one (`{SERVER_COMMAND}`), fix vllm_url, or set "
            "vllm_url: null to run vLLM here."
        ) from None
