"""A cgroup per sandbox worker: the memory and the processes of everything its candidates start, counted together."""

from __future__ import annotations

import os
import time

_CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids")  # cgroup v2, else v1 hierarchies


def make_cgroups(name: str, memory_mb: int, nproc: int) -> list[str]:
    """Create cgroup ``name`` that bounds the memory (every process, memfd, files on the tmpfs) and the processes of
    the candidates put in it; return its folders. cgroup v2 where its memory controller can be enabled, else the v1
    memory and pids hierarchies; [] where neither can be written (the rlimits still apply)."""
    own = _own_cgroups()
    v2 = _CGROUP_ROOTS[0] + own.get("", "/")
    try:
        with open(os.path.join(v2, "cgroup.subtree_control"), "r+") as control:
            enabled = control.read().split()
            if "memory" not in enabled or "pids" not in enabled:
                control.write("+memory +pids")
        folder = os.path.join(v2, name)
        _write_limits(folder, {"memory.max": memory_mb << 20, "memory.swap.max": 0, "pids.max": nproc})
        return [folder]
    except OSError:
        pass
    made: list[str] = []
    try:
        for root, controller, limits in (
            (
                _CGROUP_ROOTS[1],
                "memory",
                {"memory.limit_in_bytes": memory_mb << 20, "memory.memsw.limit_in_bytes": memory_mb << 20},
            ),
            (_CGROUP_ROOTS[2], "pids", {"pids.max": nproc}),
        ):
            folder = os.path.join(root + own.get(controller, "/"), name)
            made.append(folder)
            _write_limits(folder, limits)
    except OSError:
        remove_cgroups(made)
        return []
    return made


def remove_cgroups(folders: list[str]) -> None:
    for folder in folders:
        for _ in range(100):  # the last processes may still be exiting
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller ("" for v2), from /proc/self/cgroup."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    found[controller] = path
    except (OSError, ValueError):
        pass
    return found


def _write_limits(folder: str, limits: dict[str, int]) -> None:
    os.makedirs(folder, exist_ok=True)
    for file, value in limits.items():
        path = os.path.join(folder, file)
        if os.path.exists(path) or not file.startswith(("memory.swap", "memory.memsw")):  # no swap accounting: skip
            with open(path, "w") as f:
                f.write(str(value))
