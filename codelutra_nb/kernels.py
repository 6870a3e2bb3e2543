"""The kernels notebooks run in: encrypted, and one shared by the stage notebooks of an iteration.

ipykernel warns "Kernel is running over TCP without encryption" on the stderr of every kernel started over plain TCP,
which is what jupyter_client starts unless told otherwise (``KernelManager.transport_encryption = "disabled"``); with
one kernel per stage notebook that was dozens of lines in the terminal of a run. `EncryptedKernelManager` sets
``transport_encryption = "auto"``: jupyter_client writes CurveZMQ keys into the connection file whenever the kernelspec
declares ``"curve"`` in ``metadata.supported_encryption`` (ipykernel's does since it warns), so the kernel's sockets
are encrypted and it has nothing to warn about. `StageKernel` is the one kernel `codelutra_nb.chain` runs the stage
notebooks of an iteration in; `codelutra_nb.papermill_engine` gives papermill's own kernel the same encryption.
"""

from __future__ import annotations

import os

import zmq
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import default

from .progress import TERMINAL_PROGRESS, original_fd

EMPTY_NAMESPACE = """\
get_ipython().reset(new_session=True)
import gc, sys
gc.collect()
if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
    sys.modules["torch"].cuda.empty_cache()
del gc, sys"""
"""Run in a `StageKernel` between notebooks: what a fresh kernel would have (no variables, execution count 1),
with the imported modules kept; the memory of the last notebook's objects is given back (CUDA too)."""


class EncryptedKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager with CurveZMQ transport encryption where the kernel supports it."""

    @default("transport_encryption")
    def _transport_encryption_default(self) -> str:
        return "auto" if zmq.has("curve") else "disabled"


class StageKernel(EncryptedKernelManager):
    """A kernel several notebooks run in one after another: papermill's ``km``, which nbclient uses and leaves running.

    `launch` starts it with this process's original stdout and stderr (papermill's terminal, not the pipes ipykernel
    puts in their place) and `TERMINAL_PROGRESS` set, so its bars reach that terminal; `fresh` empties its namespace
    between notebooks and `run` runs code there; `close_clients` closes the clients nbclient opened on it (it closes
    them only on kernels it owns); `stop` shuts it down.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._clients: list = []

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        self._clients.append(kc)
        return kc

    def launch(self) -> StageKernel:
        run_sync(self.start_kernel)(
            cwd=os.getcwd(),
            env=os.environ | {TERMINAL_PROGRESS: "1"},
            stdout=original_fd("stdout"),
            stderr=original_fd("stderr"),
            extra_arguments=["--HistoryManager.hist_file=:memory:"],  # as nbclient starts kernels: no history file
        )
        return self

    def fresh(self) -> None:
        self.run(EMPTY_NAMESPACE)

    def run(self, code: str) -> None:
        """Run ``code`` in the kernel between notebooks (it leaves no trace in the next notebook's record)."""
        run_sync(self._run)(code)

    def close_clients(self) -> None:
        run_sync(self._close_clients)()

    def stop(self) -> None:
        self.close_clients()
        run_sync(self.shutdown_kernel)()

    async def _run(self, code: str) -> None:
        kc = self.client()
        kc.start_channels()
        try:
            reply = await kc.execute(code, silent=True, reply=True, timeout=300)
        finally:
            await self._close_clients()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"The stage kernel failed to run {code!r}: {reply['content'].get('evalue')}")

    async def _close_clients(self) -> None:  # async: on the event loop nbclient's clients live on
        for kc in self._clients:
            kc.stop_channels()
        self._clients.clear()
