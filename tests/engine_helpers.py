"""Tiny freshly initialised decoders for the engine's tests.

Initialised with a wide spread (std 0.1) so their greedy choices vary from position
to position and a wrong cache shows up in the tokens; seeded so every run is the same.
"""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def random_decoder(vocab_size: int, *, layers: int = 2, hidden: int = 32, seed: int = 0,
                   max_seq_len: int = 128) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=max_seq_len, initializer_range=0.1, eos_token_id=None)
    return LlamaForCausalLM(config).eval()
