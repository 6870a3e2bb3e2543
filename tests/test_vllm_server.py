"""`vllm_url`: the samplers' work done by a vLLM OpenAI-compatible server someone else runs (here vLLM's CPU build on
loopback, started by the test), M(t) loaded into it as a LoRA adapter. The server tests need vLLM (`make setup-vllm`,
or CODELUTRA_VLLM_PYTHON) and skip without it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_vllm_sampler import _adapter, _engine_python, needs_vllm

from codelutra_nb.config import load_config
from codelutra_nb.errors import ModelError
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, TransformersSampler, make_sampler


def test_no_server_at_the_url_says_how_to_start_one(tiny_model_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    cfg = load_config("demo", base_model=str(tiny_model_dir), vllm_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError) as failed:
        make_sampler("auto", cfg.model, None, batch_size=2, desc="sampling M(0)", cfg=cfg)  # no fallback to here
    said = str(failed.value)
    assert f"No vLLM server answers at http://127.0.0.1:{port}" in said
    assert "vllm.entrypoints.openai.api_server" in said and "vllm_url: null" in said


@pytest.fixture(scope="module")
def server(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A vLLM server on loopback serving the embedded model, runtime LoRA loading on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("server") / "server.log"
    argv = [_engine_python(), "-m", "vllm.entrypoints.openai.api_server", "--model", str(embedded_dir)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "1024"]
    argv += ["--enforce-eager", "--enable-lora", "--max-lora-rank", "16", "--gpu-memory-utilization", "0.1"]
    env = os.environ | {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"the vLLM server ended: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=2).close()
                break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


@needs_vllm
def test_the_server_writes_what_the_transformers_sampler_writes(embedded_dir: Path, tmp_path: Path, server: str):
    """Greedy, M(0) and an M(1) of rank 12 (loaded as a LoRA adapter), against transformers with the adapter on."""
    cfg = load_config("demo", base_model=str(embedded_dir), dtype="float32", vllm_url=server)
    adapter = _adapter(embedded_dir, tmp_path / "adapter", rank=12)
    tasks = list(load_tasks(cfg.tasks, "eval").values())[:4]
    conversations = [messages_for(task, cfg.tasks) for task in tasks]
    settings = GenerationSettings(1, 0.0, 1.0, 64, greedy=True, stop=get_kind("sql").code_complete)
    for served in (None, adapter):
        remote = make_sampler("vllm", cfg.model, served, batch_size=2, desc="vllm", cfg=cfg)
        here = TransformersSampler.create(cfg.model, served, batch_size=4, desc="hf")
        by_server = [texts[0] for texts in remote.generate(conversations, settings, seed=0)]
        by_transformers = [texts[0] for texts in here.generate(conversations, settings, seed=0)]
        assert sum(a == b for a, b in zip(by_server, by_transformers)) >= 3, list(zip(by_server, by_transformers))
    again = make_sampler("vllm", cfg.model, adapter, batch_size=2, desc="vllm", cfg=cfg)  # loaded once
    assert again.served == remote.served


@needs_vllm
def test_the_sample_stage_runs_on_the_server(embedded_dir: Path, tmp_path: Path, server: str) -> None:
    from codelutra_nb.jsonl import read_jsonl
    from codelutra_nb.stages import run_stages

    cfg = load_config(
        "demo",
        base_model=str(embedded_dir),
        store_dir=str(tmp_path / "store"),
        train_limit=5,
        num_samples=3,
        max_new_tokens=32,
        sampler="vllm",
        vllm_url=server,
    )
    run_stages(cfg, ["sample"])
    samples = read_jsonl(tmp_path / "store" / "iter-1" / "samples.jsonl")
    assert len(samples) == 15 and len({s["completion"] for s in samples}) > 5  # T 1.0: they differ
