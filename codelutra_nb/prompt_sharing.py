"""Each preference pair's prompt computed once: TRL's DPO forward passes on half the tokens.

TRL's `DPOTrainer` runs a batch of B pairs as 2B rows, ``[prompt + chosen; prompt + rejected]``, so every
prompt goes through the model twice (and in the demo a prompt is ~90% of a row). Here the backbone of the
model instead runs one packed row per pair: the tokens both rows share (the prompt, and any common start of
the two answers), then the chosen tail, then the rejected tail, with positions and a 4D attention mask that
make the rejected tail see the shared part but not the chosen tail. The hidden states are scattered back to
the 2B rows, so TRL's LM head, log-probs and losses run unchanged on exactly the values they would get
(`tests/test_prompt_sharing.py` checks hidden states and TRL's loss values against unpacked rows).

Calls that are not right-padded pair batches (odd batch, a 4D mask, given positions, a KV cache) and
attention kernels that ignore a 4D mask run the backbone's own forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_MASKABLE_ATTENTION = ("sdpa", "eager")


@dataclass
class PackedPairs:
    """B pair rows: ``input_ids`` (B, P), ``position_ids`` (B, P), the additive ``attention_mask`` (B, 1, P, P),
    and per pair the shared length and the lengths of the chosen and rejected rows it came from."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor
    shared: list[int]
    chosen_lengths: list[int]
    rejected_lengths: list[int]


def pack_pairs(input_ids: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype) -> PackedPairs:
    """Pack rows i (chosen) and i + B (rejected) of right-padded ``input_ids`` (2B, L) into one row per pair."""
    n = input_ids.size(0) // 2
    lengths = attention_mask.sum(dim=1)
    same = (input_ids[:n] == input_ids[n:]).long().cumprod(dim=1).sum(dim=1)
    # keep at least one token of each side its own: the first answer token's hidden state is the side's
    shared = torch.minimum(same, torch.minimum(lengths[:n], lengths[n:]) - 1).clamp(min=0).tolist()
    chosen, rejected = lengths[:n].tolist(), lengths[n:].tolist()
    width = max(c + r - s for s, c, r in zip(shared, chosen, rejected))
    ids = input_ids.new_zeros(n, width)
    positions = torch.zeros(n, width, dtype=torch.long, device=input_ids.device)
    segment = torch.full((n, width), -1, dtype=torch.long, device=input_ids.device)  # 0 shared, 1, 2 tails, -1 pad
    for i, (s, c, r) in enumerate(zip(shared, chosen, rejected)):
        ids[i, :c] = input_ids[i, :c]
        ids[i, c : c + r - s] = input_ids[n + i, s:r]
        positions[i, :c] = torch.arange(c)
        positions[i, c : c + r - s] = torch.arange(s, r)
        segment[i, :s], segment[i, s:c], segment[i, c : c + r - s] = 0, 1, 2
    query, key = segment.unsqueeze(2), segment.unsqueeze(1)
    index = torch.arange(width, device=input_ids.device)
    causal = index.view(1, -1, 1) >= index.view(1, 1, -1)
    visible = causal & ((key == 0) | (query == key)) & (key >= 0)
    visible |= torch.eye(width, dtype=torch.bool, device=input_ids.device) & (query < 0)  # padding sees itself
    mask = torch.zeros(visible.shape, dtype=dtype, device=input_ids.device)
    mask.masked_fill_(~visible, torch.finfo(dtype).min)
    return PackedPairs(ids, positions, mask.unsqueeze(1), shared, chosen, rejected)


def unpack_hidden(hidden: torch.Tensor, packed: PackedPairs, length: int) -> torch.Tensor:
    """The packed rows' hidden states (B, P, H) as the 2B right-padded rows (2B, ``length``, H) they stand for."""
    rows = [hidden[i, :c] for i, c in enumerate(packed.chosen_lengths)]
    rows += [
        torch.cat([hidden[i, :s], hidden[i, c : c + r - s]])
        for i, (s, c, r) in enumerate(zip(packed.shared, packed.chosen_lengths, packed.rejected_lengths))
    ]
    return torch.stack([torch.nn.functional.pad(row, (0, 0, 0, length - row.size(0))) for row in rows])


def share_pair_prompts(backbone: torch.nn.Module) -> None:
    """Make ``backbone`` (the transformer under the LM head) run pair batches packed, as the module doc says."""
    original = backbone.forward
    if getattr(backbone.config, "_attn_implementation", None) not in _MASKABLE_ATTENTION:
        return

    def forward(input_ids=None, attention_mask=None, **kwargs):
        if not _is_pair_batch(input_ids, attention_mask, kwargs):
            return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        packed = pack_pairs(input_ids, attention_mask, backbone.get_input_embeddings().weight.dtype)
        outputs = original(
            input_ids=packed.input_ids,
            attention_mask=packed.attention_mask,
            position_ids=packed.position_ids,
            **kwargs,
        )
        outputs.last_hidden_state = unpack_hidden(outputs.last_hidden_state, packed, input_ids.size(1))
        return outputs

    backbone.forward = forward


def _is_pair_batch(input_ids, attention_mask, kwargs: dict) -> bool:
    if input_ids is None or attention_mask is None or attention_mask.dim() != 2 or input_ids.size(0) % 2:
        return False
    if kwargs.get("position_ids") is not None or kwargs.get("past_key_values") is not None:
        return False
    lengths = attention_mask.sum(dim=1, keepdim=True)
    right_padded = torch.arange(attention_mask.size(1), device=attention_mask.device) < lengths
    return bool((attention_mask.bool() == right_padded).all())
