"""Prefix and prompt tuning shape what the model generates, not only what it scores.

The reference is greedy decoding through the adapted model's own forward with no cache
(the path training uses, where peft always inserts the learned prompt): generation with
the KV cache must choose the same tokens, and they must differ from the base model's.
"""

from __future__ import annotations

import pytest
import torch

from adaptlab.adapt.peft_methods.model import load_adapter, wrap_with_adapter
from adaptlab.adapt.peft_methods.settings import PromptLearningSettings
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings, prompt_ids
from adaptlab.runs import load_model

NEW = 8
GREEDY = GenerationSettings(max_new_tokens=NEW, temperature=0)
PROMPTS = ["The compound", "Gene expression in the"]  # unequal lengths: the batch is left-padded


def _without_cache(model: torch.nn.Module, ids: list[int]) -> list[int]:
    out: list[int] = []
    with torch.no_grad():
        for _ in range(NEW):
            out.append(int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax()))
    return out


def _move(prompt_encoder: torch.nn.Module) -> None:
    """A learned prompt strong enough to change greedy choices (a fresh one barely does)."""
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in prompt_encoder.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 3)


def _adapted(decoder_run, method: str):
    loaded = load_model(decoder_run)
    model = wrap_with_adapter(loaded.model, PromptLearningSettings(name=method, virtual_tokens=4)).eval()
    _move(model.prompt_encoder)
    return model, loaded.tokenizer


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_cached_generation_keeps_the_learned_prompt(tiny, method):
    model = wrap_with_adapter(tiny("decoder"), PromptLearningSettings(name=method, virtual_tokens=4)).eval()
    _move(model.prompt_encoder)
    rows = [[5, 9, 17, 33, 40, 12], [7, 7, 21, 50, 11, 30]]
    expected = [_without_cache(model, row) for row in rows]
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor(rows), max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
        with model.disable_adapter():
            base = model.generate(input_ids=torch.tensor(rows), max_new_tokens=NEW, min_new_tokens=NEW,
                                  do_sample=False)
    assert out[:, len(rows[0]):].tolist() == expected
    assert base[:, len(rows[0]):].tolist() != expected  # the prompt matters, so the comparison above could fail


def test_the_engine_generates_through_a_prefix_batched_and_alone(decoder_run):
    model, tokenizer = _adapted(decoder_run, "prefix")
    expected = [_without_cache(model, prompt_ids(tokenizer, p, False)) for p in PROMPTS]
    assert [g.tokens for g in generate(model, tokenizer, PROMPTS, GREEDY)] == expected
    assert [g.tokens for g in generate(model, tokenizer, PROMPTS[:1], GREEDY)] == expected[:1]
    with model.disable_adapter():
        assert [g.tokens for g in generate(model, tokenizer, PROMPTS, GREEDY)] != expected


def test_a_reloaded_prefix_adapter_generates_as_it_was_saved(decoder_run, tmp_path):
    model, tokenizer = _adapted(decoder_run, "prefix")
    expected = [g.tokens for g in generate(model, tokenizer, PROMPTS, GREEDY)]
    model.save_pretrained(tmp_path / "adapter")
    reloaded = load_adapter(load_model(decoder_run).model, tmp_path / "adapter")
    assert [g.tokens for g in generate(reloaded, tokenizer, PROMPTS, GREEDY)] == expected


def test_encoder_decoder_prefix_tuning_generates_through_its_prefix(tiny):
    """Cached generation follows the adapted forward, and that forward is not the base's: with the
    adapter disabled, both the forward and generation choose other tokens."""
    model = wrap_with_adapter(tiny("encoder-decoder"), PromptLearningSettings(name="prefix", virtual_tokens=4)).eval()
    _move(model.prompt_encoder)
    ids = torch.tensor([[5, 9, 17, 33, 3]])
    start = model.config.decoder_start_token_id

    def greedy() -> tuple[list[int], list[int]]:
        decoded = [start]
        for _ in range(NEW):
            logits = model(input_ids=ids, decoder_input_ids=torch.tensor([decoded])).logits[0, -1]
            decoded.append(int(logits.argmax()))
        out = model.generate(input_ids=ids, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
        return decoded, out[0].tolist()

    with torch.no_grad():
        decoded, generated = greedy()
        with model.disable_adapter():
            base_decoded, base_generated = greedy()
    assert generated == decoded
    assert base_generated == base_decoded != decoded
