"""On a CPU, TRL's fused LM head scores only the positions that have a label (the answers), as it does on a GPU.

TRL's trainers turn hidden states into per-token log-probs with a fused LM head (`trl.trainer.utils.add_fused_lm_head`).
Where Triton runs (CUDA, XPU) it projects only the labelled positions onto the vocabulary; elsewhere it projects every
position, prompts included, so that compilers that want fixed tile shapes (Neuron) see one shape. A CPU compiles
nothing, and in the demo a prompt is ~90% of a row: the wasted [position x vocabulary] products in float32 cost more
than the transformer. Scoring the labelled positions only gives the same log-probs (`tests/test_lm_head.py`) and
trained DPO 1.6x faster here (`benchmarks/train_speed.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def labelled_positions_only() -> Iterator[None]:
    """While open, TRL's fused LM head on a CPU projects only the positions whose label is not -100."""
    import trl.trainer.utils as trl_utils

    chooses = getattr(trl_utils, "_use_triton", None)  # TRL's choice: compact (labelled only) or every position
    if chooses is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or chooses(device)
    try:
        yield
    finally:
        trl_utils._use_triton = chooses
