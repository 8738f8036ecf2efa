"""Small settings shared by tests: a tiny model that trains in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TINY_MODEL = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_seq_len": 32}
TINY_TRAIN = {"steps": 30, "batch_size": 8, "seq_len": 32, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5,
              "eval_every": 10, "eval_batches": 2, "checkpoint_every": 10, "log_every": 5}


def tiny_config(shards: Path, out: Path, family: str = "decoder", model: dict | None = None, **train):
    from adaptlab.train.settings import PretrainConfig

    return PretrainConfig(data=shards, out=out, model={"family": family, **TINY_MODEL, **(model or {})},
                          train={**TINY_TRAIN, **train})


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Two shared cores: one torch thread keeps parallel work (a server, other tests) from stalling."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def save_random_model(tokenizer: Any, out: Path, *, layers: int, seed: int, family: str = "decoder") -> Path:
    """A freshly initialised model over `tokenizer` with a 64-token context, saved with it as a model folder."""
    import torch

    from adaptlab.models.presets import ModelConfig, SpecialIds, build_model

    torch.manual_seed(seed)
    cfg = ModelConfig(family=family, hidden_size=32, num_layers=layers, num_heads=2, max_seq_len=64)
    ids = SpecialIds(pad=tokenizer.pad_token_id, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    build_model(cfg, len(tokenizer), ids).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
