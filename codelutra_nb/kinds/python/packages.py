"""Which installed packages a sandboxed program may import: only those its task layout declares (with what they
require), found through their installed file lists; every other site-packages folder stays out of its sight."""

from __future__ import annotations

import os
import re
import site
import sys
import sysconfig
from collections.abc import Iterable
from importlib import metadata

DECLARED: dict[str, tuple[str, ...]] = {
    "ds1000": ("numpy", "pandas", "matplotlib", "scipy", "scikit-learn", "torch", "tensorflow"),
}
"""Distributions each task layout's programs and tests may import (those installed); other layouts: none."""
PRELOADED = ("numpy", "pandas")
"""Declared modules the zygote imports once for all its candidates (the rest are imported per candidate)."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA = re.compile(r"\bextra\s*==")


def declared_files(layouts: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(paths, folders)``: the top-level files and folders of the distributions ``layouts`` declare and of all they
    require (installed ones only), and the site folders that hold them (for the import path)."""
    todo = [name for layout in sorted(set(layouts)) for name in DECLARED.get(layout, ())]
    seen: set[str] = set()
    paths: set[str] = set()
    folders: set[str] = set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        root = os.path.abspath(str(dist.locate_file("")))
        for file in dist.files or ():
            top = file.parts[0] if file.parts else ".."
            if top != ".." and os.path.lexists(os.path.join(root, top)):
                paths.add(os.path.join(root, top))
        folders.add(root)
        for requirement in dist.requires or ():
            match = _NAME.match(requirement)
            if match and not _EXTRA.search(requirement):  # what an optional extra needs is left out
                todo.append(match.group())
    return sorted(paths), sorted(folders)


def package_folders() -> list[str]:
    """This interpreter's package folders (site-packages, user site, the import path's ``*-packages``): covered by an
    empty tmpfs wherever a folder the sandbox binds holds them."""
    folders = {*site.getsitepackages(), site.getusersitepackages()}
    folders |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    folders |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return sorted({os.path.realpath(f) for f in folders} | {os.path.abspath(f) for f in folders})
