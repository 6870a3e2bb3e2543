"""papermill's nbclient engine with encrypted kernels: ``papermill --engine codelutra in.ipynb out.ipynb``.

`make demo` runs iterate.ipynb with it, so the kernel papermill starts for iterate.ipynb does not warn "Kernel is
running over TCP without encryption" either (`kernels.EncryptedKernelManager`). papermill loads this module from the
``papermill.engine`` entry point (pyproject.toml) while it imports itself: import papermill before importing it.
"""

from __future__ import annotations

from papermill.engines import NBClientEngine

from .kernels import EncryptedKernelManager


class Engine(NBClientEngine):
    """papermill's nbclient engine on `kernels.EncryptedKernelManager`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs.setdefault("kernel_manager_class", EncryptedKernelManager)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
