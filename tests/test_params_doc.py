"""Parameters carry their own help; the README's reference and `python -m codelutra_nb params` come from it."""

import dataclasses
import subprocess
import sys

from conftest import REPO

from codelutra_nb.config import SECTIONS, describe, markdown_reference


def test_every_parameter_has_help_and_the_readme_reference_is_current():
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert len(f.metadata["help"]) > 5, f"{f.name} has no help"
    sys.path.insert(0, str(REPO / "tools"))
    import build_params_doc

    readme = (REPO / "README.md").read_text()
    assert build_params_doc.with_reference(readme) == readme, "run python tools/build_params_doc.py"
    assert "| `num_samples` | int > 0 | `4` | K: candidates per training question. |" in markdown_reference()


def test_describe_says_where_each_value_came_from():
    rows = {row.name: row for row in describe("demo", num_samples=8)}
    assert (rows["num_samples"].value, rows["num_samples"].source) == (8, "override")
    assert (rows["max_new_tokens"].value, rows["max_new_tokens"].source) == (128, "preset demo")
    assert (rows["seed"].value, rows["seed"].source, rows["seed"].section) == (0, "default", "run")
    assert rows["task_kind"].type == "python | sql" and rows["top_p"].type == "float in (0, 1]"
    assert rows["workers"].type == "int > 0 | null"


def test_params_command_prints_values_sources_and_help():
    run = subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "params", "--preset", "colab_t4", "--set", "beta=0.3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "[sampling]" in run.stdout and "[training]" in run.stdout
    assert "beta = 0.3  (override; float > 0)\n      DPO / KTO temperature." in run.stdout
    assert "load_in_4bit = True  (preset colab_t4; bool)" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "codelutra_nb", "params", "--set", "bta=0.3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Did you mean 'beta'?" in bad.stderr and "Traceback" not in bad.stderr
