"""Running each pair's prompt once gives the hidden states and TRL loss values of the unpacked rows."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from codelutra_nb import prompt_sharing
from codelutra_nb.models import load_base_model
from codelutra_nb.prompt_sharing import share_pair_prompts
from codelutra_nb.training import train_adapter


def _right_padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return ids, mask


# (chosen row, rejected row) of each pair: a long shared prompt, answers sharing their first tokens, identical
# rows, a chosen row that is a prefix of the rejected one, and two rows sharing nothing
PAIRS = [
    (list(range(10, 40)) + [5, 6, 7], list(range(10, 40)) + [8, 9]),
    (list(range(50, 60)) + [1, 2, 3, 4], list(range(50, 60)) + [1, 2, 9, 9, 9, 9, 9]),
    ([3, 4, 5, 6], [3, 4, 5, 6]),
    ([7, 8, 9], [7, 8, 9, 10, 11, 12]),
    ([20, 21], [30, 31, 32]),
]


@pytest.fixture
def backbones(tiny_cfg):
    plain = load_base_model(tiny_cfg.model).model.eval()
    shared = load_base_model(tiny_cfg.model).model.eval()
    share_pair_prompts(shared)
    return plain, shared


def test_packed_pairs_give_the_hidden_states_of_the_unpacked_rows(backbones):
    plain, shared = backbones
    ids, mask = _right_padded([c for c, _ in PAIRS] + [r for _, r in PAIRS])
    with torch.no_grad():
        expected = plain(input_ids=ids, attention_mask=mask).last_hidden_state
        got = shared(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert got.shape == expected.shape
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-4)
    packed = prompt_sharing.pack_pairs(ids, mask, torch.float32)
    assert packed.shared == [30, 12, 3, 2, 0]  # identical rows keep one token each their own
    assert packed.input_ids.shape == (5, max(c + r - s for s, (c, r) in zip(packed.shared, map(_lengths, PAIRS))))


def _lengths(pair):
    return len(pair[0]), len(pair[1])


@pytest.mark.parametrize(
    "rows, padding",
    [([[1, 2, 3], [1, 2, 4], [1, 5]], "right"), ([[1, 2, 3], [1, 2]], "left")],
    ids=["odd batch", "left padded"],
)
def test_other_batches_run_the_backbone_unpacked(backbones, monkeypatch, rows, padding):
    plain, shared = backbones
    ids, mask = _right_padded(rows)
    if padding == "left":
        ids, mask = ids.flip(1), mask.flip(1)
    monkeypatch.setattr(prompt_sharing, "pack_pairs", lambda *a: pytest.fail("packed a batch that is not pairs"))
    with torch.no_grad():
        expected = plain(input_ids=ids, attention_mask=mask).last_hidden_state
        got = shared(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(got, expected)


def test_trl_dpo_losses_are_the_same_with_shared_prompts(tiny_cfg, tmp_path):
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Table t{i} has columns a, b, c. How many rows are in t{i}?"}],
            "chosen": [{"role": "assistant", "content": f"SELECT count(*) FROM t{i};"}],
            "rejected": [{"role": "assistant", "content": "SELECT count(*) FROM missing_table WHERE a > 1;" * (i % 3)}],
        }
        for i in range(6)
    ]
    logs = {}
    for share in (False, True):
        cfg = tiny_cfg.replace(share_prompt=share, precompute_ref=share)  # both reference paths go through it
        result = train_adapter(
            cfg.model,
            cfg.training,
            cfg.method.make_trainer(),
            Dataset.from_list(rows),
            tmp_path / f"adapter-{share}",
            None,
            tmp_path / f"checkpoints-{share}",
            seed=0,
        )
        logs[share] = [h for h in result.log_history if "rewards/margins" in h]
    assert len(logs[True]) == len(logs[False]) == 3
    for step, (unpacked, packed) in enumerate(zip(logs[False], logs[True])):
        # float32 rounding differs between the two layouts: on the first step (the same weights) a sequence's
        # log-prob (20-300 nats) agrees within 1e-3 nats; after it the weights drift apart by that rounding, and the
        # log-probs within 2.5e-3 nats (1.85e-3 seen with transformers 5.25); a masking error would move them by nats
        assert packed["loss"] == pytest.approx(unpacked["loss"], rel=1e-4)
        for key in ("logps/chosen", "logps/rejected"):
            assert packed[key] == pytest.approx(unpacked[key], abs=1e-3 if step == 0 else 2.5e-3), key
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
            assert packed[key] == pytest.approx(unpacked[key], abs=5e-4), key
