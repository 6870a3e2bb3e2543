"""On a CPU, TRL's fused LM head scores only the labelled positions, with the log-probs it gives scoring them all."""

from __future__ import annotations

import pytest
import torch
import trl.trainer.utils as trl_utils
from datasets import Dataset
from trl.trainer.utils import add_fused_lm_head

from codelutra_nb.lm_head import labelled_positions_only
from codelutra_nb.methods.trainers import DPO, KTO
from codelutra_nb.models import load_base_model
from codelutra_nb.training import train_adapter


@pytest.fixture
def projected(monkeypatch) -> list[tuple[int, int]]:
    """(positions projected onto the vocabulary, positions with a label) of each call of TRL's fused LM head."""
    calls = []
    original = trl_utils._ChunkedLogProbFunction

    class Spy(original):  # type: ignore[misc, valid-type]
        @staticmethod
        def apply(hidden, weight, bias, targets, *args):
            calls.append(hidden.shape[0])
            return original.apply(hidden, weight, bias, targets, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Spy)
    return calls


def test_the_same_log_probs_from_the_labelled_positions_alone(tiny_cfg, projected):
    model = load_base_model(tiny_cfg.model).eval()
    add_fused_lm_head(model)
    ids = torch.randint(5, 500, (2, 24))
    labels = ids.masked_fill(torch.arange(24) < torch.tensor([[17], [20]]), -100)  # a prompt, then the answer
    with torch.no_grad():
        every = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        with labelled_positions_only():
            labelled = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        after = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
    assert projected == [2 * 23, (24 - 17) + (24 - 20), 2 * 23]  # restored when the block ends
    torch.testing.assert_close(labelled, every, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(after, every)
    assert (labelled[labels[:, 1:] == -100] == 0).all() and (labelled[labels[:, 1:] != -100] < 0).all()


@pytest.mark.parametrize("trainer", [DPO(sft_weight=1.0), KTO()], ids=["dpo", "kto"])
def test_training_on_a_cpu_projects_only_the_answers(tiny_cfg, tmp_path, projected, trainer):
    """Reference log-probs and training steps alike: every call projects fewer positions than its rows hold."""
    question = [{"role": "user", "content": "Write a query that counts the rows of the singer table, please."}]
    rows = [
        {"prompt": question, "chosen": [{"role": "assistant", "content": "SELECT count(*) FROM singer;"}]}
        | {"rejected": [{"role": "assistant", "content": "SELECT * FROM singer;"}]}
        | {"completion": [{"role": "assistant", "content": "SELECT count(*) FROM singer;"}], "label": i % 2 == 0}
        for i in range(4)
    ]
    train_adapter(
        tiny_cfg.model, tiny_cfg.training, trainer, Dataset.from_list(rows), tmp_path / "a", None, tmp_path / "c"
    )
    prompt_tokens = 20  # the chat template's system turn and the question: more than any answer
    assert projected and all(0 < n < 2 * prompt_tokens for n in projected)
