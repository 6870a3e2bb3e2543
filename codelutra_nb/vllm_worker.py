"""The vLLM engine in a process of its own: started by `codelutra_nb.sampling.VLLMSampler`, maybe under another
interpreter (``vllm_python``), so this file imports only the standard library and vLLM.

    python vllm_worker.py '{"model": ..., "dtype": ..., "max_model_len": ..., "memory": ..., "eager": ..., "lora": ...}'

It answers one JSON line ``{"ready": true, "device": ...}`` once the engine runs (it has generated a token), then,
for each request line ``{"prompts": [[token ids], ...], "n", "temperature", "top_p", "max_tokens", "stop_token_ids",
"seed"}``, one line ``{"outputs": [[[token ids], ...], ...]}``. Its end is the end of its standard input. vLLM's
own output goes to standard error. The engine runs in this process (no engine-core process of vLLM's own), so seeding
torch before a request makes it reproducible on CPU too, where vLLM refuses a per-request seed.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    spec = json.loads(sys.argv[1])
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever vLLM prints goes to standard error, never into the answers
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    import torch
    from vllm import LLM, SamplingParams

    lora = spec.get("lora")  # {"path", "rank"}: the adapter served as a LoRA request instead of merged
    llm = LLM(
        model=spec["model"],
        dtype=spec["dtype"],
        max_model_len=spec["max_model_len"],
        gpu_memory_utilization=spec["memory"],
        enforce_eager=spec["eager"],
        seed=0,
        **({"enable_lora": True, "max_lora_rank": lora["rank"], "max_loras": 1} if lora else {}),
    )
    request_lora = None
    if lora:
        from vllm.lora.request import LoRARequest

        request_lora = LoRARequest("policy", 1, lora["path"])
    # ready means it generates: a model the engine loads but cannot run (an attention shape its CPU kernels lack)
    # fails here, at the start, where sampler: auto can still choose the transformers sampler
    llm.generate([{"prompt_token_ids": [0]}], SamplingParams(max_tokens=1), use_tqdm=False, lora_request=request_lora)
    on_gpu = torch.cuda.is_available()
    answers.write(json.dumps({"ready": True, "device": "cuda" if on_gpu else "cpu"}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        torch.manual_seed(request["seed"])
        params = SamplingParams(
            n=request["n"],
            temperature=request["temperature"],
            top_p=request["top_p"],
            max_tokens=request["max_tokens"],
            stop_token_ids=request["stop_token_ids"],
            seed=request["seed"] if on_gpu else None,
        )
        prompts = [{"prompt_token_ids": ids} for ids in request["prompts"]]
        outputs = llm.generate(prompts, params, use_tqdm=False, lora_request=request_lora)
        answers.write(json.dumps({"outputs": [[list(c.token_ids) for c in o.outputs] for o in outputs]}) + "\n")


if __name__ == "__main__":
    main()
