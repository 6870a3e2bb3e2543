"""`sampler: vllm`: the engine in a child process (vLLM's CPU build here), M(t) merged, the transformers sampler's
prompts and stop rules. The engine tests need vLLM (`make setup-vllm`, or CODELUTRA_VLLM_PYTHON naming an interpreter
that has it) and skip without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codelutra_nb import sampling
from codelutra_nb.config import ModelParams
from codelutra_nb.errors import ModelError
from codelutra_nb.kinds import get_kind, load_tasks
from codelutra_nb.prompts import messages_for
from codelutra_nb.sampling import GenerationSettings, TransformersSampler, VLLMSampler


def _engine_python() -> str | None:
    try:
        return sampling.vllm_python(os.environ.get("CODELUTRA_VLLM_PYTHON"))
    except ModelError:
        return None


needs_vllm = pytest.mark.skipif(
    _engine_python() is None, reason="no vLLM: run `make setup-vllm` (or set CODELUTRA_VLLM_PYTHON)"
)


def test_without_vllm_the_sampler_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sampling, "VLLM_ENV", tmp_path / "none")
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as missing:
        sampling.vllm_python(None)
    assert "make setup-vllm" in str(missing.value) and "sampler: transformers" in str(missing.value)
    assert "\n" not in str(missing.value)


@pytest.mark.parametrize("chosen", [None, "/elsewhere/venv-vllm"], ids=["default", "CODELUTRA_VLLM_ENV"])
def test_the_sampler_looks_for_vllm_where_setup_puts_it(chosen: str | None) -> None:
    """One environment per user (not per clone), at the same place for scripts/setup_vllm.sh and the sampler."""
    env = {k: v for k, v in os.environ.items() if k != "CODELUTRA_VLLM_ENV"} | (
        {"CODELUTRA_VLLM_ENV": chosen} if chosen else {}
    )
    script = Path(sampling.__file__).parent.parent / "scripts" / "setup_vllm.sh"
    where = subprocess.run(["bash", script, "--where"], env=env, capture_output=True, text=True, check=True)
    found = subprocess.run(
        [sys.executable, "-c", "from codelutra_nb.sampling import VLLM_ENV; print(VLLM_ENV)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = chosen or str(Path.home() / ".cache" / "codelutra_nb" / "venv-vllm")
    assert where.stdout.strip() == found.stdout.strip() == expected


def _adapter(base: Path, out: Path, rank: int) -> Path:
    """A LoRA adapter of ``rank`` on the embedded model with small random weights: an M(1) unlike M(0)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_" in name:
                param.mul_(0.05)
    peft.save_pretrained(out)
    return out


@needs_vllm
@pytest.mark.parametrize(
    ("served", "questions", "least_same"),
    [("merge", 20, 18), ("lora", 6, 5)],  # vLLM's CPU LoRA kernels are slow: fewer questions
)
def test_m1_under_vllm_writes_what_the_transformers_sampler_writes(
    embedded_dir: Path, tmp_path: Path, served: str, questions: int, least_same: int
) -> None:
    """Demo questions, greedy, float32: an adapter of rank 12 (not one of vLLM's LoRA ranks: rounded up to 16 for a
    LoRA request), merged or as a LoRA request under vLLM, and on under transformers; both cut by the SQL kind's
    stop rule."""
    model = ModelParams(base_model=str(embedded_dir), dtype="float32", model_cache_dir=str(tmp_path / "cache"))
    adapter = _adapter(embedded_dir, tmp_path / "adapter", rank=12)
    from codelutra_nb.config import load_config

    cfg = load_config("demo", base_model=str(embedded_dir), dtype="float32", model_cache_dir=str(tmp_path / "cache"))
    cfg = cfg.replace(vllm_python=_engine_python(), vllm_adapter=served)
    tasks = list(load_tasks(cfg.tasks, "eval").values())[:questions]
    conversations = [messages_for(task, cfg.tasks) for task in tasks]
    settings = GenerationSettings(1, 0.0, 1.0, 96, greedy=True, stop=get_kind("sql").code_complete)

    engine = VLLMSampler.create(model, adapter, batch_size=16, desc="vllm", cfg=cfg)
    try:
        by_vllm = [texts[0] for texts in engine.generate(conversations, settings, seed=0)]
    finally:
        engine.close()
    assert engine.process.poll() is not None  # no engine process is left
    by_transformers = [
        texts[0]
        for texts in TransformersSampler.create(model, adapter, batch_size=16, desc="hf").generate(
            conversations, settings, seed=0
        )
    ]
    same = sum(a == b for a, b in zip(by_vllm, by_transformers))
    assert same >= least_same, list(zip(by_vllm, by_transformers))
    assert (tmp_path / "cache" / "merged").is_dir() == (served == "merge")  # a LoRA request needs no merged copy
    assert any(text != "" for text in by_vllm)


@needs_vllm
def test_an_engine_that_dies_fails_the_call_with_its_last_lines(embedded_dir: Path, tmp_path: Path) -> None:
    from codelutra_nb.config import load_config

    cfg = load_config("demo", base_model=str(embedded_dir), dtype="float32").replace(vllm_python=_engine_python())
    engine = VLLMSampler.create(cfg.model, None, batch_size=16, desc="vllm", cfg=cfg)
    engine.process.kill()
    conversation = [{"role": "user", "content": "SELECT 1?"}]
    with pytest.raises(ModelError, match="The vLLM engine process ended while generating 1 x 1 sequences"):
        engine.generate([conversation], GenerationSettings(1, 0.0, 1.0, 8, greedy=True), seed=0)


def test_auto_runs_the_transformers_sampler_without_vllm_and_says_so(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from codelutra_nb.config import load_config

    monkeypatch.setattr(sampling, "VLLM_ENV", tmp_path / "none")
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    cfg = load_config("demo", base_model=str(tiny_model_dir), sampler="auto")
    chosen = sampling.make_sampler("auto", cfg.model, None, batch_size=2, desc="sampling M(0)", cfg=cfg)
    assert isinstance(chosen, TransformersSampler)
    assert "sampling M(0): the transformers sampler runs (sampler: auto; no vLLM here" in capsys.readouterr().out


def test_auto_falls_back_when_the_engine_does_not_start(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import sys

    from codelutra_nb.config import load_config

    # this interpreter has no vLLM: the engine process ends at once, and auto says why it samples without it
    cfg = load_config("demo", base_model=str(tiny_model_dir), sampler="auto", vllm_python=sys.executable)
    chosen = sampling.make_sampler("auto", cfg.model, None, batch_size=2, desc="sampling M(0)", cfg=cfg)
    assert isinstance(chosen, TransformersSampler)
    said = capsys.readouterr().out
    assert f"vLLM in {sys.executable} did not start: The vLLM engine process ended while starting the engine" in said


def test_an_engine_outlives_its_stage_only_for_a_next_stage_serving_the_same_model(tiny_cfg) -> None:
    from codelutra_nb.stages import STAGES, keeps_engine

    order = [STAGES[name] for name in ("baseline", "sample", "verify", "pair", "train", "evaluate")]
    kept = [keeps_engine(tiny_cfg, order, i) for i in range(len(order))]
    assert kept == [True, False, False, False, False, False]  # M(0): the base evaluation, then the first sampling
    second = tiny_cfg.replace(iteration=2)
    assert [keeps_engine(second, order[1:], i) for i in range(5)] == [False] * 5
    plum = tiny_cfg.replace(method="plum", task_kind="python")
    assert [keeps_engine(plum, order, i) for i in range(3)] == [True, False, False]  # verify between
    assert keeps_engine(plum, [STAGES["sample"], STAGES["pair"]], 0)  # plum writes its tests with M(t-1)
    other_writer = tiny_cfg.replace(method="plum", task_kind="python", test_generator="some/writer")
    assert not keeps_engine(other_writer, [STAGES["sample"], STAGES["pair"]], 0)


class _Process:
    def __init__(self) -> None:
        self.ended = False

    def poll(self) -> int | None:
        return 0 if self.ended else None


def _engine(spec: dict) -> VLLMSampler:
    """A `VLLMSampler` without a process of its own: what keeping and taking an engine look at."""
    engine = VLLMSampler.__new__(VLLMSampler)
    engine.spec, engine.reused, engine.process = spec, False, _Process()
    engine.close = lambda: setattr(engine.process, "ended", True)  # type: ignore[method-assign]
    return engine


def test_a_kept_engine_serves_the_next_stage_with_its_model_and_ends_otherwise() -> None:
    first = _engine({"model": "m0"})
    sampling.keep_engine(True)  # before a stage whose engine the next stage can use
    sampling.close(first)
    assert not first.process.ended
    sampling.keep_engine(False)  # before the next stage
    assert sampling._KEPT.take({"model": "m0"}) is first and first.reused
    sampling.close(first)  # not kept past this stage
    assert first.process.ended

    second = _engine({"model": "m0"})
    sampling.keep_engine(True)
    sampling.close(second)
    assert sampling._KEPT.take({"model": "m1"}) is None and second.process.ended  # another model: ended

    third = _engine({"model": "m0"})
    sampling.keep_engine(True)
    sampling.close(third)
    sampling.keep_engine(False)  # the stage meant to take it was skipped (its output was there) ...
    sampling.keep_engine(False)  # ... so before the stage after it, the engine ends
    assert third.process.ended and sampling._KEPT.engine is None


def _engine_processes(marker: str) -> list[str]:
    import subprocess

    listed = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in listed if "vllm_worker.py" in line and marker in line]


@needs_vllm
def test_iterate_notebook_samples_and_evaluates_with_vllm(embedded_dir: Path, tmp_path: Path) -> None:
    """Iteration 1 through papermill on iterate.ipynb with sampler: vllm on the embedded model: the base evaluation's
    engine samples too, M(1) is evaluated merged, the terminal names the engine, and no engine process is left."""
    import re
    import shlex
    import subprocess
    import sys

    import yaml
    from conftest import REPO, TINY_PARAMS

    from codelutra_nb.config import read_preset

    cache = tmp_path / "cache"
    values = read_preset("demo") | TINY_PARAMS | {"max_new_tokens": 48, "eval_max_new_tokens": 48}
    values |= {"base_model": str(embedded_dir), "store_dir": str(tmp_path / "store"), "model_cache_dir": str(cache)}
    values |= {"sampler": "vllm", "vllm_python": _engine_python()}
    preset = tmp_path / "vllm.yaml"
    preset.write_text(yaml.safe_dump(values))
    (command,) = re.findall(r"^PAPERMILL = (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    argv = shlex.split(command.replace("$(PYTHON)", shlex.quote(sys.executable)))
    argv += ["notebooks/iterate.ipynb", str(tmp_path / "out.ipynb"), "-p", "preset", str(preset)]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    run = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    shown = run.stdout + run.stderr
    assert run.returncode == 0, shown[-3000:]

    assert re.search(r"evaluating M\(0\): vLLM runs on cpu \(.+\), serving the base model\.", shown)
    assert re.search(r"sampling M\(0\): vLLM runs on cpu .+the engine the stage before left running\.", shown)
    assert re.search(r"evaluating M\(1\): vLLM runs on cpu \(.+\), serving base \+ adapter merged\.", shown)
    assert "✓ iteration 1 · evaluate (6/6) done in" in shown
    samples = (tmp_path / "store" / "iter-1" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 4 * 2 and any('"completion": ""' not in line for line in samples)
    assert (cache / "merged").is_dir()  # M(1) merged for the evaluation
    assert _engine_processes(str(embedded_dir)) == [] and _engine_processes(str(cache)) == []


class KilledAfterFirstShard(VLLMSampler):
    """vLLM whose engine process is killed after it answered the first shard (``sampler`` as a class path)."""

    calls = 0

    def generate(self, conversations, settings, seed):
        KilledAfterFirstShard.calls += 1
        if KilledAfterFirstShard.calls == 2:
            self.process.kill()
        return super().generate(conversations, settings, seed)


@needs_vllm
def test_an_engine_killed_mid_stage_resumes_from_the_last_finished_shard(embedded_dir: Path, tmp_path: Path) -> None:
    from codelutra_nb.config import load_config
    from codelutra_nb.stages import run_stages

    cfg = load_config(
        "demo",
        base_model=str(embedded_dir),
        store_dir=str(tmp_path / "store"),
        dtype="float32",
        train_limit=6,
        shard_size=3,
        num_samples=2,
        max_new_tokens=24,
        sampler="test_vllm_sampler:KilledAfterFirstShard",
        vllm_python=_engine_python(),
    )
    with pytest.raises(ModelError, match="The vLLM engine process ended while generating 3 x 2 sequences"):
        run_stages(cfg, ["sample"])
    store = tmp_path / "store" / "iter-1"
    first = sorted((store / "samples.shards").glob("*.jsonl"))
    assert len(first) == 1  # shard 0 finished, shard 1 not
    written = first[0].read_bytes()

    run_stages(cfg, ["sample"])  # the engine is killed once only: the rerun finishes
    assert first[0].read_bytes() == written  # not sampled again
    samples = (store / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 6 * 2
    assert _engine_processes(str(embedded_dir)) == []


def test_sampler_vllm_without_vllm_stops_before_any_stage_in_one_line(
    tiny_preset: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from codelutra_nb import cli

    monkeypatch.setattr(sampling, "VLLM_ENV", tmp_path / "none")
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["iterate", "--preset", str(tiny_preset), "--set", "sampler=vllm"]) == 2
    said = capsys.readouterr()
    assert said.err.startswith("error: sampler: vllm needs vLLM") and said.err.count("\n") == 1
    assert "make setup-vllm" in said.err and not (tmp_path / "store").exists()  # nothing ran, nothing written
