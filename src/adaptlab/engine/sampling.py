"""Next-token choice from logits: greedy, or sampling from the warped distribution.

Speculative decoding needs the warped distributions themselves (it compares the
draft's with the target's), so warping and drawing are separate calls. Warping
reuses transformers' own warpers, in the order `generate` applies them.
"""

from __future__ import annotations

import torch
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from adaptlab.engine.requests import GenerationSettings


def rng_for(settings: GenerationSettings, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator private to one request, so a seeded request repeats whatever else runs."""
    rng = torch.Generator(device=device)
    if settings.seed is not None:
        rng.manual_seed(settings.seed)
    else:
        rng.seed()
    return rng


def _warpers(settings: GenerationSettings) -> LogitsProcessorList:
    warpers = LogitsProcessorList([TemperatureLogitsWarper(settings.temperature)])
    if settings.top_k is not None:
        warpers.append(TopKLogitsWarper(settings.top_k))
    if settings.top_p is not None and settings.top_p < 1:
        warpers.append(TopPLogitsWarper(settings.top_p))
    return warpers


def distribution(logits: torch.Tensor, settings: GenerationSettings) -> torch.Tensor:
    """Probabilities the sampler draws from, for logits of shape [..., vocab] (sampled settings only)."""
    flat = logits.float().reshape(-1, logits.size(-1))
    warped = _warpers(settings)(None, flat)
    return torch.softmax(warped, dim=-1).reshape(logits.shape)


def choose(logits: torch.Tensor, settings: GenerationSettings, rng: torch.Generator) -> int:
    """The next token for one position's logits [vocab]: argmax at temperature 0, else a draw."""
    if settings.temperature == 0:
        return int(logits.argmax())
    return int(torch.multinomial(distribution(logits, settings), 1, generator=rng))
