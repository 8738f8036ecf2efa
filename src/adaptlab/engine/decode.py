"""One request's token loop over a decoder and its KV cache.

Generation of a single prompt, streaming, the prefix cache and speculative decoding all
prefill a cache and then need the same things: the prompt's ids as `generate` builds them
(so outputs agree with it), a step-by-step decode that yields each token as it comes
(streaming, time to first token), and the text cut at EOS or a stop string.

The cache is `CompactLlama`'s `KVBuffer` for a plain Llama model (its forward costs a
fraction of transformers' per token, which is what a batch of one pays for) and
transformers' `DynamicCache` for every other decoder; `new_cache`, `forward` and
`cache_layers` hide which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.llama_decoder import CompactLlama, KVBuffer, LayerKV
from adaptlab.engine.requests import Generation, GenerationSettings, cut_at_stop, prompt_tokens
from adaptlab.engine.sampling import choose, rng_for

Cache = DynamicCache | KVBuffer


def new_cache(model: PreTrainedModel, layers: Sequence[LayerKV] = ()) -> Cache:
    """An empty KV cache for `model`, or one holding `layers` (keys and values a cache of the same
    model gave `cache_layers`)."""
    compact = CompactLlama.of(model)
    if compact is None:
        return DynamicCache(list(layers), config=model.config) if layers else DynamicCache(config=model.config)
    cache = compact.new_cache()
    if layers:
        cache.extend(list(layers))
    return cache


def cache_layers(cache: Cache) -> list[LayerKV]:
    """Each layer's keys and values [1, kv_heads, tokens, head_dim] (views: clone what you keep)."""
    if isinstance(cache, KVBuffer):
        return cache.layer_kv()
    return [(layer.keys, layer.values) for layer in cache.layers]


def forward(model: PreTrainedModel, tokens: list[int], cache: Cache, *, keep: int = 0) -> torch.Tensor:
    """Logits [len(tokens), vocab] of `tokens` after what `cache` holds, or of their last `keep`
    positions only (which spares the output layer a long prompt); the cache grows by the tokens."""
    with torch.no_grad():
        if isinstance(cache, KVBuffer):
            return cache.decoder.forward(tokens, cache, keep)
        device = next(model.parameters()).device
        out = model(input_ids=torch.tensor([tokens], device=device), cache=cache, use_cache=True,
                    logits_to_keep=keep)
    return out.logits[0]


def decode_steps(logits: torch.Tensor, step: Callable[[int], torch.Tensor], settings: GenerationSettings,
                 eos_id: int | None, rng: torch.Generator) -> Iterator[int]:
    """New tokens one at a time, from the last prompt position's `logits`, until EOS or
    max_new_tokens; `step(token)` runs the model on a new token and returns the next logits."""
    for i in range(settings.max_new_tokens):
        token = choose(logits, settings, rng)
        if token == eos_id:
            return
        yield token
        if i + 1 < settings.max_new_tokens:
            logits = step(token)


def cached_step(model: PreTrainedModel, cache: Cache) -> Callable[[int], torch.Tensor]:
    """A step that runs only the new token, against the keys and values `cache` holds."""
    return lambda token: forward(model, [token], cache)[-1]


def uncached_step(model: PreTrainedModel, sequence: list[int], cache: Cache) -> Callable[[int], torch.Tensor]:
    """A step that re-runs the whole `sequence` (extended by each token) in an empty cache of
    `cache`'s kind: what the KV cache saves."""
    def step(token: int) -> torch.Tensor:
        sequence.append(token)
        empty = cache.decoder.new_cache() if isinstance(cache, KVBuffer) else DynamicCache(config=model.config)
        return forward(model, sequence, empty, keep=1)[-1]
    return step


def token_steps(model: PreTrainedModel, ids: list[int], settings: GenerationSettings,
                eos_id: int | None) -> Iterator[int]:
    """A prompt's (`ids`) new tokens as each is decoded, with the KV cache unless settings turn it off."""
    cache = new_cache(model)
    logits = forward(model, ids, cache, keep=1)[-1]
    step = cached_step(model, cache) if settings.use_cache else uncached_step(model, list(ids), cache)
    return decode_steps(logits, step, settings, eos_id, rng_for(settings, logits.device))


def collect(tokens: Iterator[int], tokenizer: PreTrainedTokenizerBase, stop: list[str]) -> Generation:
    """Drain a token stream into a Generation, ending it early once a stop string appears."""
    stop = [s for s in stop if s]
    out: list[int] = []
    for token in tokens:
        out.append(token)
        if stop and any(s in tokenizer.decode(out, skip_special_tokens=True) for s in stop):
            break
    return Generation(cut_at_stop(tokenizer.decode(out, skip_special_tokens=True), stop), out)


def generate_one(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
                 settings: GenerationSettings) -> Generation:
    """One prompt's continuation through the engine's own loop (`token_steps`)."""
    ids = prompt_tokens(model, tokenizer, prompt, settings.max_new_tokens)
    return collect(token_steps(model, ids, settings, tokenizer.eos_token_id), tokenizer, settings.stop)
