"""Tiny models built from configs, inputs for them, and a way off the identity: factory fixtures,
so each adapter test builds exactly the bases it needs in milliseconds."""

from __future__ import annotations

import pytest
import torch

from adaptlab.models.presets import ModelConfig, SpecialIds, build_model
from helpers import one_torch_thread

VOCAB = 64


def _tiny(family: str = "decoder", hidden: int = 32, seed: int = 0):
    """The same weights for the same seed, so two calls give two identical, independent bases."""
    torch.manual_seed(seed)
    cfg = ModelConfig(family=family, hidden_size=hidden, num_layers=2, num_heads=2, max_seq_len=32)
    return build_model(cfg, VOCAB, SpecialIds(0, 2, 3)).eval()


def _batch(family: str, rows: int = 3, length: int = 8, seed: int = 1) -> dict[str, torch.Tensor]:
    ids = torch.randint(4, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))
    if family == "encoder-decoder":
        return {"input_ids": ids, "decoder_input_ids": ids[:, :5].contiguous()}
    return {"input_ids": ids}


def _randomise(adapters: torch.nn.ModuleDict, seed: int) -> None:
    """Move a fresh adapter off the identity, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapters.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


@pytest.fixture
def tiny():
    return _tiny


@pytest.fixture
def batch():
    return _batch


@pytest.fixture
def randomise():
    return _randomise


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield
