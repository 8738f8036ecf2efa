"""One request's token loop over a decoder and its KV cache.

The prefix cache and speculative decoding both prefill a cache their own way and
then need the same things: the prompt's ids as `generate` builds them (so outputs
agree with it), a step-by-step decode that yields each token as it comes (streaming,
time to first token), and the text cut at EOS or a stop string.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.generate import Generation, GenerationSettings, cut_at_stop
from adaptlab.engine.sampling import choose
from adaptlab.errors import UserError


def require_decoder(model: PreTrainedModel) -> None:
    if model.config.is_encoder_decoder or not model.can_generate():
        raise UserError(f"{type(model).__name__} is not a decoder-only language model; "
                        "streaming, cached and speculative decoding need one")


def forward(model: PreTrainedModel, tokens: list[int], cache: DynamicCache, *, keep: int = 0) -> torch.Tensor:
    """Logits [len(tokens), vocab] of `tokens` after what `cache` holds, or of their last `keep` positions
    only (which spares the output layer a long prompt); the cache grows by the tokens."""
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(input_ids=torch.tensor([tokens], device=device), cache=cache, use_cache=True,
                    logits_to_keep=keep)
    return out.logits[0]


def decode_steps(model: PreTrainedModel, cache: DynamicCache, logits: torch.Tensor, settings: GenerationSettings,
                 eos_id: int | None, rng: torch.Generator) -> Iterator[int]:
    """New tokens one at a time, from the last prompt position's `logits`, until EOS or max_new_tokens."""
    for step in range(settings.max_new_tokens):
        token = choose(logits, settings, rng)
        if token == eos_id:
            return
        yield token
        if step + 1 < settings.max_new_tokens:
            logits = forward(model, [token], cache)[-1]


def collect(tokens: Iterator[int], tokenizer: PreTrainedTokenizerBase, stop: list[str]) -> Generation:
    """Drain a token stream into a Generation, ending it early once a stop string appears."""
    out: list[int] = []
    text = ""
    for token in tokens:
        out.append(token)
        text = tokenizer.decode(out, skip_special_tokens=True)
        if any(s and s in text for s in stop):
            break
    return Generation(cut_at_stop(text, stop), out)
