"""What a zygote does to itself before it serves candidates: namespaces, an allow-listed root, a seccomp filter.

As root on Linux it enters new network, mount and PID namespaces and moves into a root of its own: an empty tmpfs
holding read-only bind mounts of only what programs need (`allowed_paths`): the system folders ``/usr``, ``/bin``,
``/sbin``, ``/lib*`` (with every Python package folder in them covered by an empty tmpfs), ``/etc/ld.so.cache`` and
``/etc/localtime``, a few devices (``/dev/null``, ``zero``, ``full``, ``random``, ``urandom``), the interpreter, its
standard library and its shared libraries, and the packages the run's tasks declare (DS-1000: numpy, pandas...);
then a fresh ``/proc`` of its PID namespace and a 256 MiB tmpfs at ``/tmp`` for the candidates' directories. No
site-packages, no home, no checkout, no data set. Everything is read-only but ``/tmp``. Each piece that is not
permitted here is skipped and reported (`isolation_report` in `sandbox`). Only the standard library is imported here:
the zygote loads this file on its own.
"""

from __future__ import annotations

import ctypes
import glob
import os
import signal
import sys
import tempfile

_TMPFS_MB = 256  # all files of a worker's candidates together (full mode)
# Linux constants (x86_64 and arm64 alike, except the syscall numbers in SYSCALLS)
_CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
CLONE_NEWIPC, _CLONE_NEWUSER = 0x08000000, 0x10000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
_MS_RDONLY, _MS_REMOUNT, _MNT_DETACH = 1, 32, 2
_SYS_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 1, 38, 4, 22, 2
# per architecture: the seccomp audit arch, and the numbers of unshare, clone, clone3, keyctl, pivot_root
SYSCALLS = {
    "x86_64": {"arch": 0xC000003E, "unshare": 272, "clone": 56, "clone3": 435, "keyctl": 250, "pivot_root": 155},
    "aarch64": {"arch": 0xC00000B7, "unshare": 97, "clone": 220, "clone3": 435, "keyctl": 219, "pivot_root": 41},
}.get(os.uname().machine)
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/localtime")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_PACKAGE_FOLDERS = ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages", "/usr/lib/python3/*-packages")

libc = ctypes.CDLL(None, use_errno=True)


def call(name: str, *args) -> None:
    """A libc call that returns 0 on success; `OSError` with errno otherwise."""
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def isolate(config: dict, keep: tuple[int, ...]) -> tuple[dict[str, bool], str]:
    """Enter the namespaces and the allow-listed root, forbid user namespaces, and say what is on (`isolation_report`);
    return the work root (where candidate directories go)."""
    features, workroot = _enter_namespaces(config, keep)
    features["ipc namespace"] = False
    if features["separate user"]:
        try:  # a probe: each candidate then gets a fresh one of its own
            call("unshare", CLONE_NEWIPC)
            features["ipc namespace"] = True
        except OSError:
            pass
    features["fresh keyrings"] = features["separate user"] and SYSCALLS is not None
    features["memory cgroup"] = bool(config["cgroups"])
    features["no user namespaces"] = _forbid_user_namespaces()
    return features, workroot


def _enter_namespaces(config: dict, keep: tuple[int, ...]) -> tuple[dict[str, bool], str]:
    """Enter network, mount and PID namespaces and the allow-listed root as far as permitted; return what is on and the
    work root.

    With a PID namespace this forks: the caller continues as PID 1 of the new namespace, and the
    original process (the launcher) only waits for it and exits with its status.
    """
    root = config["isolate"] and os.geteuid() == 0
    features = {
        "separate user": bool(root),
        "network namespace": False,
        "mount namespace": False,
        "allow-listed filesystem": False,
        "read-only filesystem": False,
        "pid namespace": False,
    }
    if not root:
        return features, tempfile.mkdtemp(prefix="codelutra-sandbox-")
    try:
        call("unshare", _CLONE_NEWNET)
        features["network namespace"] = True
    except OSError:
        pass
    workroot = None
    needed = allowed_paths(config["stdlib"])
    try:
        call("unshare", _CLONE_NEWNS)
        call("mount", None, b"/", None, _MS_REC | _MS_PRIVATE, None)  # nothing propagates back to the host
        mounts = _enter_root(needed, config["packages"], [*config["masks"], *_package_folders(needed)])
        features["allow-listed filesystem"] = True
        features["read-only filesystem"] = _make_readonly(mounts)
        call("mount", b"tmpfs", b"/tmp", b"tmpfs", _MS_NOSUID | _MS_NODEV,
             f"size={_TMPFS_MB}m,nr_inodes=20000,mode=0711".encode())  # fmt: skip
        features["mount namespace"], workroot = True, "/tmp"
    except OSError:
        pass
    if workroot is None:
        workroot = tempfile.mkdtemp(prefix="codelutra-sandbox-")
        os.chmod(workroot, 0o711)
        if blocked_ancestors(needed):  # another user could not even import the standard library
            features["separate user"] = False
    try:
        call("unshare", _CLONE_NEWPID)
    except OSError:
        return features, workroot
    pid = os.fork()
    if pid:  # the launcher: stay the verifier's child until the zygote ends
        for fd in keep:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    features["pid namespace"] = True
    if features["mount namespace"]:
        try:
            call("mount", b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError:
            pass
    return features, workroot


def allowed_paths(stdlib: list[str]) -> list[str]:
    """What the allow-listed root binds (outermost paths only; packages come on top, one by one): the system folders,
    the interpreter's executable, its standard library (``stdlib``) and the folders of its shared libraries."""
    found = {p for p in (*_SYSTEM, *_ETC) if os.path.lexists(p)}
    for entry in (sys.executable, *stdlib, *_shared_library_folders()):
        for path in {os.path.abspath(entry), os.path.realpath(entry)}:
            if os.path.exists(path):
                found.add(path)
    inside = {p for p in found if any(p.startswith(q + "/") for q in found if not os.path.islink(q))}
    return sorted(found - inside)


def _shared_library_folders() -> set[str]:
    """The folders of the shared objects mapped into this process (libpython, libc, ...)."""
    folders = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[5:]
                if path and path[0].startswith("/") and ".so" in os.path.basename(path[0]):
                    folders.add(os.path.dirname(path[0]))
    except OSError:  # pragma: no cover - no /proc
        pass
    return folders


def _package_folders(bound: list[str]) -> list[str]:
    """Python package folders (site-packages, dist-packages) in the bound folders: the system's, the interpreter's."""
    patterns = [*_PACKAGE_FOLDERS, *(os.path.join(b, "python3*", "*-packages") for b in bound)]
    patterns += [os.path.join(b, "*-packages") for b in bound]
    return sorted({p for pattern in patterns for p in glob.glob(pattern)})


def _enter_root(binds: list[str], packages: list[str], masks: list[str]) -> list[str]:
    """Make an empty tmpfs the root of this mount namespace, with binds of ``binds``, an empty tmpfs over each of
    ``masks`` that lies in them, binds of ``packages`` (in those masks), devices, and mount points for /proc and /tmp;
    return the mounts made (as paths in the new root)."""
    binds = [*binds, *(f"/dev/{d}" for d in _DEVICES if os.path.exists(f"/dev/{d}"))]
    links = {p: os.readlink(p) for p in binds if os.path.islink(p)}
    sources = {p: os.open(p, os.O_PATH) for p in (*binds, *packages) if p not in links}  # reachable once covered
    try:
        call("mount", b"tmpfs", b"/tmp", b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=4m,mode=0755")
        try:
            new, mounts = "/tmp", ["/"]
            for path in sorted(binds):
                if path in links:
                    os.makedirs(new + os.path.dirname(path), 0o755, exist_ok=True)
                    os.symlink(links[path], new + path)
                else:
                    _bind(sources[path], new + path)
                    mounts.append(path)
            covered = [m for m in masks if os.path.isdir(m) and any(m.startswith(b + "/") for b in binds)]
            for mask in sorted(set(covered)):
                call("mount", b"tmpfs", (new + mask).encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=0755")
                mounts.append(mask)
            for path in sorted(packages):
                _bind(sources[path], new + path)
                mounts.append(path)
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                                 ("stderr", "/proc/self/fd/2")):  # fmt: skip
                os.symlink(target, f"{new}/dev/{name}")
            for folder in ("/proc", "/tmp"):
                os.makedirs(new + folder, 0o755, exist_ok=True)
        except BaseException:  # give the host's /tmp back to the reduced mode that follows
            libc.umount2(b"/tmp", _MNT_DETACH)
            raise
    finally:
        for fd in sources.values():
            os.close(fd)
    os.chdir(new)
    try:
        if SYSCALLS is None or libc.syscall(ctypes.c_long(SYSCALLS["pivot_root"]), b".", b".") != 0:
            raise OSError(ctypes.get_errno(), "pivot_root")
        call("umount2", b".", _MNT_DETACH)  # the old root, stacked under the new one
    except OSError:  # e.g. the current root is no mount point: a chroot, which candidates cannot leave (not root)
        os.chroot(".")
    os.chdir("/")
    return mounts


def _bind(fd: int, target: str) -> None:
    """Bind-mount what ``fd`` (an O_PATH descriptor) points at onto ``target``, made as an empty file or folder."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    call("mount", f"/proc/self/fd/{fd}".encode(), target.encode(), None, _MS_BIND | _MS_REC, None)


def blocked_ancestors(paths: list[str]) -> dict[str, list[str]]:
    """For each directory that other users cannot traverse (e.g. /root, mode 0700), the needed paths below it."""
    blocked: dict[str, list[str]] = {}
    for path in paths:
        ancestor = "/"
        for part in path.strip("/").split("/")[:-1]:
            ancestor = os.path.join(ancestor, part)
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, []).append(path)
                break
    return blocked


def _forbid_user_namespaces() -> bool:
    """A seccomp filter on this process and all it forks: creating a user namespace (``unshare`` or ``clone`` with
    CLONE_NEWUSER) fails with EPERM, ``clone3`` (whose flags a filter cannot read) with ENOSYS so that the C library
    falls back to ``clone``, and syscalls of another ABI (x32, 32-bit) with ENOSYS. False where it cannot be set."""
    if SYSCALLS is None:
        return False
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, enosys, eperm = 0x7FFF0000, 0x00050000 | 38, 0x00050000 | 1
    program = [
        (ld, 0, 0, 4), (jeq, 1, 0, SYSCALLS["arch"]), (ret, 0, 0, enosys),  # arch
        (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, enosys),  # nr; x32 numbers
        (jeq, 0, 1, SYSCALLS["clone3"]), (ret, 0, 0, enosys),
        (jeq, 2, 0, SYSCALLS["unshare"]), (jeq, 1, 0, SYSCALLS["clone"]), (ret, 0, 0, allow),
        (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEWUSER), (ret, 0, 0, eperm), (ret, 0, 0, allow),  # flags
    ]  # fmt: skip

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*(Filter(*ins) for ins in program))
    try:
        call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        call("prctl", _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(Program(len(program), filters)), 0, 0)
    except OSError:
        return False
    return True


def _make_readonly(mounts: list[str]) -> bool:
    """Make every mount under the new root read-only: ``mount_setattr`` (Linux >= 5.12) on the whole tree, else a
    read-only remount of each of ``mounts`` (mounts nested in a bound folder then stay as they are)."""
    attr = ctypes.create_string_buffer(int(_MOUNT_ATTR_RDONLY).to_bytes(8, "little") + bytes(24))
    if libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, attr, 32) == 0:
        return True
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY
    return all([libc.mount(None, path.encode(), None, flags, None) == 0 for path in mounts])  # each one, in any case
