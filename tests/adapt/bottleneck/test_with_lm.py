"""An adapted model is still a transformers model: the project's generation and LM interface use it."""

from __future__ import annotations

import pytest

from adaptlab.adapt.bottleneck import AdapterModel, BottleneckConfig
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.lm import HFCausalLM
from adaptlab.runs import load_model

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0)
PROMPTS = ["The compound", "Gene"]


@pytest.fixture
def adapted(decoder_run, randomise):
    loaded = load_model(decoder_run)
    model = AdapterModel(loaded.model)
    model.add_adapter("fresh", BottleneckConfig(kind="houlsby", r=8))
    model.add_adapter("moved", BottleneckConfig(kind="parallel", r=8))
    randomise(model.adapters["moved"], seed=11)
    return model, loaded.tokenizer


def _tokens(model, tokenizer, prompts=PROMPTS) -> list[list[int]]:
    return [g.tokens for g in generate(model, tokenizer, prompts, GREEDY)]


def test_generate_goes_through_the_active_adapter(adapted):
    model, tok = adapted
    base = _tokens(model, tok)
    with model.active("fresh"):
        assert _tokens(model, tok) == base
    with model.active("moved"):
        moved = _tokens(model, tok)
    assert moved != base and all(moved)
    with model.active(["moved", None]):  # one adapter per prompt, kept through every cached step
        assert _tokens(model, tok) == [moved[0], base[1]]


def test_the_lm_interface_scores_through_the_adapter(adapted):
    model, tok = adapted
    requests = [("The compound", " is"), ("Gene", " expression")]
    base = HFCausalLM(model, tok).loglikelihood(requests)
    with model.active("fresh"):
        assert HFCausalLM(model, tok).loglikelihood(requests) == base
    with model.active("moved"):
        assert HFCausalLM(model, tok).loglikelihood(requests) != base


def test_trainable_share_is_small(adapted):
    model, _ = adapted
    model.set_active("fresh")
    count = model.parameter_count()
    print(f"\nhoulsby r=8 on the tiny decoder: {count}")
    hidden, layers, r = 32, 2, 8
    assert count.trainable == layers * 2 * (2 * hidden * r + r + hidden)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.share < 0.05
