"""Reuse the KV state of prompt prefixes that requests share (a system prompt, few-shot
examples, RAG passages), so the model runs only on what is new in each prompt.

The cache is keyed by blocks of tokens: block i's key hashes every token up to the end
of block i, so a block's key names its whole prefix and a lookup walks the blocks until
the first one missing. Each block keeps its own slice of the keys and values, so
prefixes that share blocks share memory. The stored tensors are bounded by a byte
budget with least-recently-used eviction; a chain is touched leaf-first, so a block is
always fresher than the blocks after it and eviction never strands a block whose
prefix is gone. One cache serves one model (its KV means nothing to another).
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase
from transformers.cache_utils import DynamicLayer

from adaptlab.engine.decode import Cache, cache_layers, cached_step, collect, decode_steps, forward, new_cache
from adaptlab.engine.llama_decoder import LayerKV
from adaptlab.engine.requests import Generation, GenerationSettings, prompt_tokens
from adaptlab.engine.sampling import rng_for
from adaptlab.errors import UserError
from adaptlab.models.family import require_decoder


@dataclass
class _Block:
    kv: list[LayerKV]
    nbytes: int


class PrefixCache:
    """Block-keyed KV state of prompt prefixes under a byte budget, least recently used evicted first."""

    def __init__(self, budget_bytes: int, block_size: int = 16):
        if budget_bytes < 1:
            raise UserError(f"prefix cache budget {budget_bytes} bytes: give a positive number of bytes")
        if block_size < 1:
            raise UserError(f"prefix cache block size {block_size}: give a positive number of tokens")
        self.budget_bytes = budget_bytes
        self.block_size = block_size
        self.nbytes = 0
        self.hits = 0  # lookups that reused at least one block
        self.misses = 0
        self._blocks: OrderedDict[bytes, _Block] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._blocks)

    def block_keys(self, tokens: Sequence[int]) -> list[bytes]:
        """The key of each full block of `tokens`: a hash of all tokens up to the block's end."""
        running = hashlib.sha256()
        keys = []
        for end in range(self.block_size, len(tokens) + 1, self.block_size):
            running.update(array("q", tokens[end - self.block_size : end]).tobytes())
            keys.append(running.copy().digest())
        return keys

    def lookup(self, tokens: Sequence[int]) -> tuple[int, list[LayerKV]]:
        """How many leading tokens of `tokens` are cached (whole blocks), and their keys and values."""
        with self._lock:
            hits = []
            for key in self.block_keys(tokens):
                if key not in self._blocks:
                    break
                hits.append(key)
            self._touch(hits)
            if hits:
                self.hits += 1
            else:
                self.misses += 1
            blocks = [self._blocks[key].kv for key in hits]
        if not blocks:
            return 0, []
        layers = [(torch.cat([b[i][0] for b in blocks], dim=-2), torch.cat([b[i][1] for b in blocks], dim=-2))
                  for i in range(len(blocks[0]))]
        return len(hits) * self.block_size, layers

    def store(self, tokens: Sequence[int], cache: Cache) -> None:
        """Keep the KV of every full block of `tokens` that `cache` covers, then evict down to the budget."""
        keys = self.block_keys(tokens[: cache.get_seq_length()])
        with self._lock:
            for i, key in enumerate(keys):
                if key not in self._blocks:
                    self._add(key, cache, i)
            self._touch(keys)
            while self.nbytes > self.budget_bytes:
                _, evicted = self._blocks.popitem(last=False)
                self.nbytes -= evicted.nbytes

    def _add(self, key: bytes, cache: Cache, index: int) -> None:
        span = slice(index * self.block_size, (index + 1) * self.block_size)
        # Clones, so a block holds only its own slice and not the whole request's tensors.
        kv = [(keys[..., span, :].clone(), values[..., span, :].clone()) for keys, values in cache_layers(cache)]
        nbytes = sum(t.numel() * t.element_size() for pair in kv for t in pair)
        self._blocks[key] = _Block(kv, nbytes)
        self.nbytes += nbytes

    def _touch(self, chain: list[bytes]) -> None:
        for key in reversed(chain):  # leaf first: each block ends fresher than the blocks after it
            self._blocks.move_to_end(key)


@dataclass
class Prefilled:
    """A request after its prompt has run: how much of it came from the cache, and its token stream."""

    prompt_tokens: int
    cached_tokens: int
    tokens: Iterator[int]


@dataclass
class PrefixGeneration(Generation):
    prompt_tokens: int = 0
    cached_tokens: int = 0


class PrefixCachingGenerator:
    """Greedy or sampled generation from one decoder, reusing cached prompt prefixes across requests."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *,
                 budget_bytes: int = 256 * 2**20, block_size: int = 16):
        require_decoder(model, "prefix caching")
        layers = DynamicCache(config=model.config).layers
        if any(type(layer) is not DynamicLayer for layer in layers):
            raise UserError(f"{type(model).__name__} has sliding-window or other non-full-attention layers; "
                            "prefix caching needs a model whose every layer attends to the whole prefix")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.cache = PrefixCache(budget_bytes, block_size)

    def prefill(self, prompt: str, settings: GenerationSettings) -> Prefilled:
        """Run the prompt past its longest cached prefix, store its new blocks, and return the token stream."""
        ids = prompt_tokens(self.model, self.tokenizer, prompt, settings.max_new_tokens)
        # At least the last prompt token must run: its logits give the first new token.
        cached, layers = self.cache.lookup(ids[:-1])
        cache = new_cache(self.model, layers)
        logits = forward(self.model, ids[cached:], cache, keep=1)[-1]
        self.cache.store(ids, cache)
        rng = rng_for(settings, logits.device)
        stream = decode_steps(logits, cached_step(self.model, cache), settings, self.tokenizer.eos_token_id, rng)
        return Prefilled(len(ids), cached, stream)

    def generate(self, prompt: str, settings: GenerationSettings) -> PrefixGeneration:
        """The continuation of `prompt`, as `generate` would give it, with how much of the prompt was reused."""
        run = self.prefill(prompt, settings)
        out = collect(run.tokens, self.tokenizer, settings.stop)
        return PrefixGeneration(out.text, out.tokens, run.prompt_tokens, run.cached_tokens)
