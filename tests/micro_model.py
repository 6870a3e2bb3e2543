"""A randomly initialised Llama of a few thousand weights: what Hub tests save adapters on and load them back onto."""

from __future__ import annotations


def micro_llama():
    """The same 2-layer Llama (vocabulary 64, hidden size 16) on every call (seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)
