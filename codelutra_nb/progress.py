"""Progress a person can follow: bars in the notebook and, in a chain's kernel, on the terminal that started it.

In a Jupyter kernel ``sys.stderr`` is the notebook's stream, and ipykernel points file descriptors 1 and 2 at pipes
into the notebook, keeping a copy of the originals. `terminal` is the stderr the process started with: for
``papermill notebooks/iterate.ipynb ...`` the terminal papermill runs in (its kernels inherit it). `codelutra_nb.chain`
writes one line per stage there (`say`) and starts the stage notebooks' kernel with that terminal as its stderr and
`TERMINAL_PROGRESS` set, so `progress_bar` (sampling, verification, evaluation) and `terminal_bar` (training steps)
draw on it too, while the notebooks keep their own outputs (tqdm widgets) as the record.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TextIO

TERMINAL_PROGRESS = "CODELUTRA_TERMINAL_PROGRESS"
"""Environment variable: when set, the bars of this process are also drawn on `terminal` (a chain's kernel)."""


def original_fd(name: str) -> int:
    """The file descriptor ``sys.<name>`` (``stdout`` or ``stderr``) was on when the process started."""
    copy = getattr(getattr(sys, name), "_original_stdstream_copy", None)  # ipykernel's copy, before its pipe
    return copy if copy is not None else getattr(sys, f"__{name}__").fileno()


@functools.cache
def terminal() -> TextIO | None:
    """The stderr this process started with, when something else (a notebook's stream) has taken its place.

    None in a plain process (a script, the CLI): its prints and tqdm bars reach that stderr already.
    """
    if sys.stderr is sys.__stderr__ or sys.__stderr__ is None:
        return None
    return open(os.dup(original_fd("stderr")), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115


def say(line: str) -> None:
    """``line`` in this process's output (a notebook's, in a kernel) and on `terminal`."""
    print(line, flush=True)
    stream = terminal()
    if stream is not None:
        stream.write(line + "\n")
        stream.flush()


def terminal_bar(*, total: int, desc: str, unit: str, disable: bool = False):
    """A plain tqdm bar on `terminal` when `TERMINAL_PROGRESS` is set; a disabled bar otherwise."""
    from tqdm.std import tqdm

    stream = terminal() if os.environ.get(TERMINAL_PROGRESS) and not disable else None
    # position=0: the notebook's bar is a tqdm too, and tqdm would otherwise draw this one on the line below it
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=stream is None, mininterval=1.0, position=0)


def progress_bar(*, total: int, desc: str, unit: str, disable: bool = False, mininterval: float = 0.1) -> Bars:
    """A tqdm bar in the output (a widget in a notebook), drawn on `terminal` too in a chain's kernel."""
    from tqdm.auto import tqdm

    shown = tqdm(total=total, desc=desc, unit=unit, disable=disable, mininterval=mininterval)
    return Bars(shown, terminal_bar(total=total, desc=desc, unit=unit, disable=disable))


class Bars:
    """tqdm bars that move together (the notebook's and the terminal's); a context manager like one bar."""

    def __init__(self, *bars):
        self.bars = bars

    def update(self, n: int = 1) -> None:
        for bar in self.bars:
            bar.update(n)

    def close(self) -> None:
        for bar in self.bars:
            bar.close()

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
