"""The GPU a run plans for and the GPU it runs on.

`CARDS` are the cards a preset can name (``gpu: t4``): their memory as torch reports it (``total_memory``) and
their compute capability. `current` describes the GPU this process would use (GPU 0) through torch, without
allocating on it; its free memory comes from ``nvidia-smi``, so asking creates no CUDA context in a process (the
chain's) that never computes. `auto_dtype` is what ``dtype: auto`` is on a card, and `check_kernels` refuses a GPU
the installed torch has no kernels for (Kaggle's P100 with Kaggle's default torch) before any work, naming the fix.

No module-level torch import: `codelutra_nb.config` names the cards, and `codelutra_nb.session` runs before the
toolkit's dependencies are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from .errors import DeviceError

GIB = 1024**3


@dataclass(frozen=True)
class Card:
    """A GPU model as a plan sees it: ``count`` cards of ``memory_gib`` each (one process per card)."""

    name: str
    memory_gib: float
    capability: tuple[int, int]
    count: int = 1

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)


CARDS: dict[str, Card] = {
    "t4": Card("NVIDIA T4 16 GB (Colab)", 14.75, (7, 5)),
    "2xt4": Card("2 x NVIDIA T4 16 GB (Kaggle)", 14.75, (7, 5), count=2),
    "a100-40": Card("NVIDIA A100 40 GB", 39.39, (8, 0)),
    "a100-80": Card("NVIDIA A100 80 GB", 79.14, (8, 0)),
    "h100": Card("NVIDIA H100 80 GB", 79.11, (9, 0)),
}
"""The cards ``gpu`` and ``params --plan --gpu`` name; memory is what torch reports as ``total_memory`` (a T4's
15,360 MiB board shows 15,102 MiB), the plan's budget for each process."""


@dataclass(frozen=True)
class Device:
    """The GPU this process uses (GPU 0), and how many it sees."""

    name: str
    total_bytes: int
    free_bytes: int
    capability: tuple[int, int]
    count: int

    @property
    def card(self) -> Card:
        """This GPU as a plan's card, with its free memory as the budget."""
        return Card(self.name, self.free_bytes / GIB, self.capability, self.count)


def current() -> Device | None:
    """GPU 0 as torch sees it (None without CUDA), its free memory from nvidia-smi (torch's where that fails)."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    capability = (props.major, props.minor)
    free = _smi_free_bytes(str(getattr(props, "uuid", "")))
    if free is None:
        free = torch.cuda.mem_get_info(0)[0]
    return Device(props.name, props.total_memory, free, capability, torch.cuda.device_count())


def _smi_free_bytes(uuid: str) -> int | None:
    """Free memory of the GPU with ``uuid`` by nvidia-smi (no CUDA context in this process); None if it cannot say."""
    if not uuid or shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=uuid,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = uuid.removeprefix("GPU-")
    for line in out.splitlines():
        smi_uuid, _, free_mib = (part.strip() for part in line.partition(","))
        if smi_uuid.removeprefix("GPU-") == wanted and free_mib.isdigit():
            return int(free_mib) * 1024**2
    return None


def auto_dtype(capability: tuple[int, int]) -> str:
    """``dtype: auto`` on a GPU of compute capability ``capability``: bfloat16 from Ampere (8.0) on, where it is
    computed natively, else float16 (trained with fp16 mixed precision and a loss scaler). A T4 (7.5) reports
    ``torch.cuda.is_bf16_supported()`` too, but only emulates bfloat16."""
    return "bfloat16" if capability >= (8, 0) else "float16"


def check_kernels() -> None:
    """Refuse a GPU the installed torch has no kernels for (every CUDA operation would fail with "no kernel image
    is available for the device"), naming the fix; nothing on a CPU or a supported GPU."""
    import torch

    if not torch.cuda.is_available():
        return
    major, minor = torch.cuda.get_device_capability(0)
    archs = torch.cuda.get_arch_list()
    if _has_kernels(archs, major, minor):
        return
    name = torch.cuda.get_device_name(0)
    kaggle = "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.path.isdir("/kaggle")
    where = (
        "On Kaggle: Settings > Accelerator > GPU T4 x2 (Kaggle's default torch has no Pascal kernels); or "
        if kaggle or (major, minor) == (6, 0)
        else ""
    )
    raise DeviceError(
        f"{name} (compute capability {major}.{minor}) has no kernels in this torch {torch.__version__} "
        f"(built for {' '.join(archs) or 'no GPU'}): every CUDA operation would fail with 'no kernel image is "
        f"available for the device'. {where}install a torch build with sm_{major}{minor} kernels (torch's own "
        "warning names its CUDA version; for sm_60: `pip install torch --index-url "
        "https://download.pytorch.org/whl/cu126`) and restart the session; or choose another GPU."
    )


def _has_kernels(archs: list[str], major: int, minor: int) -> bool:
    """Whether a torch built for ``archs`` runs on compute capability ``major.minor``: a cubin of the same major
    version and a minor at most this one, or PTX of an earlier or equal capability (compiled when loaded)."""
    for arch in archs:
        target, _, digits = arch.partition("_")
        digits = digits.rstrip("abf")  # sm_90a, sm_100f: architecture-specific variants
        if len(digits) < 2 or not digits.isdigit():
            continue
        arch_major, arch_minor = int(digits[:-1]), int(digits[-1])
        if target == "sm" and arch_major == major and arch_minor <= minor:
            return True
        if target == "compute" and (arch_major, arch_minor) <= (major, minor):
            return True
    return False
