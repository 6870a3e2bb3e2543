import pytest

from codelutra_nb.config import (
    PARAMS_DIR,
    LoopConfig,
    config_from_namespace,
    load_config,
    namespace_overrides,
    parse_assignments,
)
from codelutra_nb.errors import ConfigError


def test_demo_preset_is_the_default_and_overrides_win():
    cfg = load_config()
    assert cfg.model.base_model == "embedded:smollm2-135m-instruct" and cfg.tasks.task_kind == "sql"
    assert load_config(num_samples=8).sampling.num_samples == 8


@pytest.mark.parametrize("preset", sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
def test_every_preset_loads(preset):
    assert isinstance(load_config(preset), LoopConfig)


def test_unknown_parameter_names_the_key_and_suggests_the_fix():
    with pytest.raises(ConfigError, match=r"Unknown parameter 'tempreture'.*Did you mean 'temperature'"):
        load_config(tempreture=0.5)


def test_unknown_key_in_a_yaml_preset_names_the_file(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("num_samples: 4\nlamda: 1.0\n")
    with pytest.raises(ConfigError, match=r"'lamda' in .*mine.yaml"):
        load_config(str(preset))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"Unknown preset 'nope'.*demo"):
        load_config("nope")


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("num_samples", "many", "must be an integer"),
        ("num_samples", 0, "must be > 0"),
        ("top_p", 1.5, r"in \(0, 1\]"),
        ("temperature", -1, ">= 0"),
        ("no_correct", "maybe", r"choose one of \['skip', 'gold'\]"),
        ("load_in_4bit", "yes please", "true or false"),
        ("lora_targets", 3, "list of strings"),
        ("num_samples", 2.5, "must be an integer"),
    ],
)
def test_bad_values_say_what_is_allowed(key, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(**{key: value})
    assert repr(key) in str(info.value)


def test_strings_from_papermill_and_cli_are_coerced():
    cfg = load_config(num_samples="8", load_in_4bit="true", learning_rate="1e-4", workers=None)
    assert (cfg.sampling.num_samples, cfg.model.load_in_4bit, cfg.training.learning_rate, cfg.verification.workers) == (
        8,
        True,
        1e-4,
        None,
    )
    assert parse_assignments(["num_samples=8", "lora_targets=[q_proj, v_proj]"]) == {
        "num_samples": 8,
        "lora_targets": ["q_proj", "v_proj"],
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["num_samples"])


def test_notebook_namespace_takes_params_and_injected_fields():
    namespace = {
        "preset": "demo",
        "iteration": 2,
        "force": False,
        "params": {"num_samples": 6, "beta": 0.5},
        "beta": 0.3,
        "some_notebook_variable": 1,
    }
    assert namespace_overrides(namespace) == {"num_samples": 6, "beta": 0.3, "iteration": 2, "force": False}
    cfg = config_from_namespace(namespace)
    assert (cfg.run.iteration, cfg.sampling.num_samples, cfg.training.beta) == (2, 6, 0.3)
    with pytest.raises(ConfigError, match="'num_sample'"):
        config_from_namespace({"params": {"num_sample": 3}})


def test_replace_validates():
    cfg = load_config()
    assert cfg.replace(iteration=0).run.iteration == 0
    with pytest.raises(ConfigError):
        cfg.replace(iteration=-1)


PAPER_PRESETS = {
    "spider_paper": {"num_samples": 10, "beta": 0.1, "sft_weight": 1.0, "lora_r": 8, "max_length": 2048},
    "bird": {"num_samples": 10, "beta": 0.1, "sft_weight": 1.0, "lora_r": 8, "max_length": 2048},
    "ds1000": {"num_samples": 10, "beta": 0.5, "sft_weight": 0.5, "lora_r": 8, "max_length": 2048},
    "plum_mbpp": {"method": "plum", "num_samples": 20, "trainer": "kto", "test_attempts": 3, "negatives": "runnable"},
    "dstc_mbpp": {"method": "dstc", "trainer": "dpo", "eval_greedy": True},
}
"""The papers' setups (docs/methods.md): each preset's values that its paper fixes."""


@pytest.mark.parametrize("preset", sorted(PAPER_PRESETS))
def test_each_paper_preset_has_its_papers_settings_and_passes_the_params_command(preset, capsys):
    from codelutra_nb import cli

    cfg = load_config(preset)
    values = cfg.to_dict()
    assert {key: values[key] for key in PAPER_PRESETS[preset]} == PAPER_PRESETS[preset]
    if cfg.run.method == "codelutra":
        assert cfg.training.train_batch_size * cfg.training.grad_accum == 16  # the paper's effective batch
    assert cli.main(["params", "--preset", preset]) == 0
    assert f"(preset {preset};" in capsys.readouterr().out
    lines = (PARAMS_DIR / f"{preset}.yaml").read_text().splitlines()
    header = " ".join(line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    assert "arXiv" in header and "What differs" in header and "docs/methods.md" in header


def test_the_ds1000_preset_splits_the_1000_problems_in_two_halves():
    from types import SimpleNamespace

    from codelutra_nb.kinds.selection import select_ids

    cfg = load_config("ds1000")
    problems = [SimpleNamespace(task_id=str(i)) for i in range(1000)]
    train, held_out = (
        {t.task_id for t in select_ids(problems, ids)} for ids in (cfg.tasks.train_ids, cfg.tasks.eval_ids)
    )
    assert len(train) == len(held_out) == 500 and not train & held_out


@pytest.mark.parametrize("preset", sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
def test_no_preset_points_at_the_shared_folder(preset):
    values = load_config(preset).to_dict()
    assert not [k for k, v in values.items() if isinstance(v, str) and "shared" in v.split("/")], preset
