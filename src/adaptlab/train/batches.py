"""Random windows from memory-mapped token shards.

Every step draws its whole global batch from a generator seeded by (seed, step), and
each process takes its own slice. A step's data therefore depends on nothing but the
seed and the step number: resuming needs no sampler state, and N processes see
exactly the batch one process with N-fold accumulation sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from adaptlab.errors import UserError


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A generator private to one step (stream separates training from evaluation draws)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


class TokenWindows:
    """Samples fixed-length windows uniformly over the positions of all shards."""

    def __init__(self, shards: Sequence[np.ndarray], window: int, name: str = "data"):
        usable = [s for s in shards if len(s) >= window]
        if not usable:
            total = sum(len(s) for s in shards)
            raise UserError(f"{name}: {total} tokens, fewer than one window of {window}; lower seq_len or add text")
        self.shards = usable
        self.window = window
        self._starts = torch.tensor([len(s) - window + 1 for s in usable], dtype=torch.float64)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` windows as an (n, window) int64 tensor."""
        which = torch.multinomial(self._starts, n, replacement=True, generator=generator)
        offsets = (torch.rand(n, generator=generator, dtype=torch.float64) * self._starts[which]).long()
        rows = [
            torch.from_numpy(self.shards[int(s)][int(o) : int(o) + self.window].astype(np.int64))
            for s, o in zip(which, offsets)
        ]
        return torch.stack(rows)


def slice_batch(batch: dict[str, torch.Tensor], index: int, size: int) -> dict[str, torch.Tensor]:
    """The `index`-th micro-batch of `size` rows of a global batch."""
    return {k: v[index * size : (index + 1) * size] for k, v in batch.items()}
