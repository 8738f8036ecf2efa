"""Prefix cache: same greedy output as plain generate, fewer tokens run for a shared prefix,
block keys that name the whole prefix, and LRU eviction under a byte budget."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.generate import generate
from adaptlab.engine.prefix_cache import PrefixCache, PrefixCachingGenerator
from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.tokenization.train import load_tokenizer
from engine_helpers import random_decoder

SHARED = "The standard dose of the compound is given with water. "
GREEDY = GenerationSettings(max_new_tokens=12, temperature=0)


@dataclass
class Loaded:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase


@pytest.fixture(scope="module")
def loaded(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    return Loaded(random_decoder(len(tokenizer)), tokenizer)


@pytest.fixture
def tokens_run(loaded):
    """Counts every token the model embeds, however it is called."""
    counts: list[int] = []
    hook = loaded.model.get_input_embeddings().register_forward_hook(lambda m, i, o: counts.append(i[0].numel()))
    yield counts
    hook.remove()


def test_greedy_output_matches_plain_generate_cold_and_warm(loaded):
    gen = PrefixCachingGenerator(loaded.model, loaded.tokenizer, block_size=4)
    prompts = [SHARED + "Gene", SHARED + "The", SHARED + "Gene"]
    outs = [gen.generate(p, GREEDY) for p in prompts]
    plain = [generate(loaded.model, loaded.tokenizer, [p], GREEDY)[0] for p in prompts]
    assert [o.tokens for o in outs] == [p.tokens for p in plain]
    assert [o.text for o in outs] == [p.text for p in plain]
    # warm: every whole block before the last prompt token (which must run for its logits) came from the cache
    assert [o.cached_tokens for o in outs] == [0, *((o.prompt_tokens - 1) // 4 * 4 for o in outs[1:])]
    assert outs[1].cached_tokens >= 24


def test_a_shared_prefix_runs_the_model_on_fewer_tokens(loaded, tokens_run):
    gen = PrefixCachingGenerator(loaded.model, loaded.tokenizer, block_size=4)
    settings = GenerationSettings(max_new_tokens=1, temperature=0)
    first = gen.generate(SHARED + "Gene", settings)
    assert tokens_run == [first.prompt_tokens]  # cold: the whole prompt runs
    tokens_run.clear()
    second = gen.generate(SHARED + "The", settings)
    assert second.cached_tokens >= 8
    assert tokens_run == [second.prompt_tokens - second.cached_tokens]


def test_sampling_repeats_under_a_seed(loaded):
    """The same seed repeats cold and warm; other seeds draw other tokens, and none is the greedy choice:
    a sampler that fell back to argmax, or ignored the seed, would repeat as well."""
    gen = PrefixCachingGenerator(loaded.model, loaded.tokenizer, block_size=4)

    def sampled(seed: int) -> list[int]:
        return gen.generate(SHARED, GenerationSettings(max_new_tokens=8, temperature=1.0, seed=seed)).tokens

    first = sampled(3)
    assert sampled(3) == first
    others = {tuple(sampled(seed)) for seed in (4, 5, 6)}
    assert tuple(first) not in others and len(others) > 1
    assert first != gen.generate(SHARED, GenerationSettings(max_new_tokens=8, temperature=0)).tokens


def test_stop_string_ends_generation_early(loaded):
    gen = PrefixCachingGenerator(loaded.model, loaded.tokenizer, block_size=4)
    full = gen.generate(SHARED, GenerationSettings(max_new_tokens=8, temperature=0))
    stop = full.text[1:3]
    assert stop and stop in full.text
    cut = gen.generate(SHARED, GenerationSettings(max_new_tokens=8, temperature=0, stop=[stop]))
    assert cut.text == full.text[: full.text.index(stop)]
    assert len(cut.tokens) < len(full.tokens)


# --- the cache alone, over hand-made KV ---------------------------------------------
CONFIG = LlamaConfig(num_hidden_layers=2)
BLOCK = 4
BLOCK_BYTES = 2 * 2 * (1 * 2 * BLOCK * 8) * 4  # layers x (k, v) x [1, heads, block, dim] x fp32


def kv_of(tokens: list[int]) -> DynamicCache:
    """A cache whose values encode each position's token, so a lookup's content can be checked."""
    rows = torch.tensor(tokens, dtype=torch.float32)[None, None, :, None].expand(1, 2, len(tokens), 8)
    return DynamicCache([(rows.clone(), -rows.clone()) for _ in range(2)], config=CONFIG)


def test_lookup_returns_the_longest_cached_block_aligned_prefix_and_its_kv():
    cache = PrefixCache(budget_bytes=10**6, block_size=BLOCK)
    tokens = list(range(10))
    cache.store(tokens, kv_of(tokens))
    assert len(cache) == 2  # the partial third block is not kept
    hit, kv = cache.lookup(tokens[:9] + [99, 98, 97])
    assert hit == 8
    assert kv[1][0][0, 0, :, 0].tolist() == list(range(8))  # layer 1's keys, one per cached position
    assert kv[1][1][0, 0, :, 0].tolist() == [-t for t in range(8)]
    assert cache.lookup([5] + tokens[1:])[0] == 0  # same later blocks after another first block: a miss


def test_block_keys_name_the_whole_prefix():
    cache = PrefixCache(budget_bytes=1, block_size=2)
    a, b = cache.block_keys([1, 2, 3, 4]), cache.block_keys([9, 9, 3, 4])
    assert a[0] != b[0] and a[1] != b[1]
    assert cache.block_keys([1, 2, 3, 4, 5]) == a


def test_budget_keeps_the_start_of_a_prefix_and_evicts_least_recently_used():
    cache = PrefixCache(budget_bytes=4 * BLOCK_BYTES, block_size=BLOCK)
    a, b, c = list(range(0, 8)), list(range(100, 108)), list(range(200, 208))
    cache.store(a, kv_of(a))
    cache.store(b, kv_of(b))
    assert cache.nbytes == 4 * BLOCK_BYTES
    assert cache.lookup(a)[0] == 8  # a is now fresher than b
    cache.store(c, kv_of(c))
    assert cache.nbytes <= cache.budget_bytes
    assert [cache.lookup(t)[0] for t in (a, b, c)] == [8, 0, 8]

    long = list(range(300, 316))  # 4 blocks into a budget of 2: the first two stay, reachable
    small = PrefixCache(budget_bytes=2 * BLOCK_BYTES, block_size=BLOCK)
    small.store(long, kv_of(long))
    assert len(small) == 2 and small.lookup(long)[0] == 8


def test_generator_under_a_tiny_budget_stays_within_it_and_correct(loaded):
    gen = PrefixCachingGenerator(loaded.model, loaded.tokenizer, budget_bytes=5000, block_size=4)
    out = gen.generate(SHARED + "Gene", GREEDY)
    assert 0 < gen.cache.nbytes <= 5000
    assert out.tokens == generate(loaded.model, loaded.tokenizer, [SHARED + "Gene"], GREEDY)[0].tokens


def test_bad_budget_is_a_clear_error():
    with pytest.raises(UserError, match="budget 0 bytes"):
        PrefixCache(budget_bytes=0)
