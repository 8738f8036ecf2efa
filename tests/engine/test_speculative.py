"""Speculative decoding: greedy output is the target's own, whatever the draft; sampled
tokens follow the target's distribution (checked against wrong samplers' distributions);
the counts add up; mismatched vocabularies are refused."""

from __future__ import annotations

import pytest
import torch

from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.engine.sampling import distribution
from adaptlab.engine.speculative import SpeculativeDecoder, SpeculativeStats, verify_sampled
from adaptlab.errors import UserError
from adaptlab.tokenization.train import load_tokenizer
from engine_helpers import random_decoder

PROMPTS = ["The standard dose of", "Gene", "A compound is"]


def tv(a: torch.Tensor, b: torch.Tensor) -> float:
    """Total-variation distance between two distributions over the same support."""
    return 0.5 * float((a - b).abs().sum())


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def target(tokenizer):
    return random_decoder(len(tokenizer), layers=2, seed=0)


def first_layer_of(model):
    """The target cut to its first layer: a draft that agrees with it part of the time."""
    draft = random_decoder(model.config.vocab_size, layers=1)
    draft.load_state_dict(model.state_dict(), strict=False)  # layer 1's weights have nowhere to go
    return draft


@pytest.fixture(scope="module")
def drafts(tokenizer, target):
    return {"itself": target, "first layer": first_layer_of(target),
            "unrelated": random_decoder(len(tokenizer), layers=1, seed=7)}


def test_greedy_output_is_the_targets_own_whatever_the_draft(tokenizer, target, drafts):
    settings = GenerationSettings(max_new_tokens=20, temperature=0)
    expected = [g.tokens for g in (generate(target, tokenizer, [p], settings)[0] for p in PROMPTS)]
    rates = {}
    for name, draft in drafts.items():
        spec = SpeculativeDecoder(target, draft, tokenizer, lookahead=3)
        outs = [spec.generate(p, settings) for p in PROMPTS]
        assert [o.tokens for o in outs] == expected, name
        stats = [o.stats for o in outs]
        assert all(s.proposed >= s.accepted + s.rejected for s in stats)
        rates[name] = sum(s.accepted for s in stats) / sum(s.accepted + s.rejected for s in stats)
    assert rates["itself"] == 1.0
    assert rates["unrelated"] < rates["first layer"] < 1.0  # the rejection paths ran too


def test_counts_add_up(tokenizer, target):
    spec = SpeculativeDecoder(target, target, tokenizer, lookahead=3)
    out = spec.generate("The standard dose of", GenerationSettings(max_new_tokens=10, temperature=0))
    assert len(out.tokens) == 10
    # all accepted: rounds of 4 tokens, 4 + 4 + 2 (the last round proposes just 1)
    assert out.stats == SpeculativeStats(proposed=3 + 3 + 1, accepted=7, rejected=0, target_forwards=3,
                                        draft_forwards=7)
    assert out.stats.acceptance_rate == 1.0


def test_verify_sampled_draws_from_the_target_and_accepts_at_the_expected_rate():
    p = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]])
    q = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    n, tol = 10_000, 0.03
    # a wrong sampler cannot pass: always accepting gives q; resampling from p on rejection gives this
    overlap = torch.minimum(p[0], q[0])
    wrong_residual = overlap + (1 - overlap.sum()) * p[0]
    assert tv(q[0], p[0]) > 3 * tol and tv(wrong_residual, p[0]) > 3 * tol
    rng = torch.Generator().manual_seed(0)
    counts, accepted = torch.zeros(4), 0
    for _ in range(n):
        draft = int(torch.multinomial(q[0], 1, generator=rng))
        k, token = verify_sampled(p, q, [draft], rng)
        first = draft if k else token
        counts[first] += 1
        accepted += k
    assert tv(counts / n, p[0]) < tol
    assert abs(accepted / n - float(overlap.sum())) < 0.02  # Leviathan et al.: alpha = sum min(p, q)


def test_verify_sampled_with_the_targets_own_distribution_accepts_all_and_adds_a_bonus():
    p = torch.tensor([[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]])
    rng = torch.Generator().manual_seed(0)
    for _ in range(50):
        drafts = torch.multinomial(p[0], 2, replacement=True, generator=rng).tolist()
        assert verify_sampled(p, p[:2], drafts, rng) == (2, 1)


def test_sampled_first_token_follows_the_targets_distribution(tokenizer, target, drafts):
    settings = GenerationSettings(max_new_tokens=2, temperature=1.0, top_k=5)
    prompt = "The standard dose of"
    ids = torch.tensor([[tokenizer.eos_token_id, *tokenizer(prompt, add_special_tokens=False)["input_ids"]]])
    with torch.no_grad():
        p = distribution(target(ids).logits[0, -1], settings)
        q = distribution(drafts["first layer"](ids).logits[0, -1], settings)
    n, tol = 1000, 0.065  # the empirical distribution's own expected distance from p is about 0.025
    overlap = torch.minimum(p, q)
    wrong_residual = overlap + (1 - overlap.sum()) * p
    assert tv(q, p) > 2 * tol and tv(wrong_residual, p) > 2 * tol  # so wrong samplers fail
    spec = SpeculativeDecoder(target, drafts["first layer"], tokenizer, lookahead=1)
    counts = torch.zeros_like(p)
    stats = SpeculativeStats()
    for seed in range(n):
        counts[next(spec.stream(prompt, settings.model_copy(update={"seed": seed}), stats))] += 1
    assert tv(counts / n, p) < tol
    assert 0 < stats.accepted < stats.proposed


def test_a_draft_with_another_vocabulary_is_refused(tokenizer, target):
    other = random_decoder(len(tokenizer) + 10, layers=1)
    with pytest.raises(UserError, match=f"draft vocabulary of {len(tokenizer) + 10} tokens differs"):
        SpeculativeDecoder(target, other, tokenizer)
    with pytest.raises(UserError, match="lookahead 0"):
        SpeculativeDecoder(target, target, tokenizer, lookahead=0)
