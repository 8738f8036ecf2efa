"""Compiled decoding: same greedy tokens as eager decoding, through a compiled graph."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from adaptlab.engine.compiled import compile_decoding
from adaptlab.errors import UserError

from engine_helpers import random_decoder


def greedy(model, ids: torch.Tensor) -> list[int]:
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24,
                             min_new_tokens=24, do_sample=False, pad_token_id=0)
    return out[0, ids.size(1):].tolist()


def test_compiled_decoding_gives_eager_greedy_tokens_from_a_compiled_graph():
    ids = torch.randint(3, 64, (1, 9), generator=torch.Generator().manual_seed(0))
    eager = greedy(random_decoder(64, layers=1), ids)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = compile_decoding(random_decoder(64, layers=1))
    assert greedy(compiled, ids) == eager
    assert greedy(compiled, ids) == eager  # again, on the compiled graphs
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1


def test_an_encoder_is_refused():
    bert = BertForMaskedLM(BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32))
    with pytest.raises(UserError, match="not a decoder-only"):
        compile_decoding(bert)
