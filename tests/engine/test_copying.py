"""Copy-constrained decoding: every output is a span of its sources, stopping stays possible."""

from __future__ import annotations

import pytest

from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.runs import load_model

from engine_helpers import random_decoder

SOURCE = "Zikmina Laboratories holds the development rights to Blolelquor, given at 462 mg every other day."


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def loaded(decoder_run):
    """The trained run's tokenizer before a random decoder, whose greedy choices wander over the vocabulary."""
    run = load_model(decoder_run)
    run.model = random_decoder(len(run.tokenizer))
    return run


PROMPTS = ["The compound", "Gene", "Who holds the rights?", "A dose of", "The", "Question: what?"]


def test_every_output_is_a_span_of_its_source_and_free_decoding_is_not(loaded):
    settings = GenerationSettings(max_new_tokens=12, temperature=0)
    free = generate(loaded.model, loaded.tokenizer, PROMPTS, settings)
    copied = generate(loaded.model, loaded.tokenizer, PROMPTS, settings, copy_from=[[SOURCE]] * len(PROMPTS))
    assert all(squash(g.text) in squash(SOURCE) for g in copied)
    assert any(squash(g.text) for g in copied)
    assert not all(squash(g.text) in squash(SOURCE) for g in free)  # the constraint is what made them spans


def test_each_row_copies_from_its_own_sources_and_sampling_obeys_too(loaded):
    sources = [["alpha beta gamma delta"], ["one two three four five"]]
    settings = GenerationSettings(max_new_tokens=10, temperature=1.0, seed=3)
    for _ in range(3):
        out = generate(loaded.model, loaded.tokenizer, ["The compound", "Gene"], settings, copy_from=sources)
        for g, texts in zip(out, sources):
            assert squash(g.text) in squash(texts[0])


def test_a_stop_string_still_ends_the_output(loaded):
    """The stop string may follow any whole words of the source, also where the source goes on otherwise:
    some output must have ended that way (its raw tokens go on with the stop), and none mid-word."""
    from adaptlab.engine.copying import _Source

    settings = GenerationSettings(max_new_tokens=40, temperature=0, stop=["."])
    out = generate(loaded.model, loaded.tokenizer, PROMPTS, settings, copy_from=[[SOURCE]] * len(PROMPTS))
    source = _Source([SOURCE])
    words = [" ".join(g.text.split()) for g in out]
    assert all("." not in g.text and source.ends(w) for g, w in zip(out, words))
    stopped = [w for g, w in zip(out, words) if loaded.tokenizer.decode(g.tokens).startswith(g.text + ".")]
    assert any(not source.continues(w + ".") for w in stopped), (words, stopped)


def test_spans_start_and_end_at_word_boundaries():
    from adaptlab.engine.copying import _Source

    source = _Source(["Largusase is an enzyme.", "Given at 462 mg\n\nevery   day."])
    assert source.continues("Largus") and source.continues("462 mg every day")  # blanks count as one space
    assert not source.continues("argusase") and not source.continues("62 mg")  # no start mid-word
    assert not source.continues("enzyme.Given")  # no span across two sources
    assert source.ends("Largusase") and source.ends("462 mg") and source.ends("an enzyme.")
    assert not source.ends("Largusa") and not source.ends("46") and not source.ends("")


def test_joined_codes_and_decimals_are_one_word():
    from adaptlab.engine.copying import word_ends_at, word_starts_at

    text = "Band 15q17.3 of KSD-31*7, at 22.6 hours."
    assert word_ends_at(text, text.index(" of")) and not word_ends_at(text, text.index(".3"))
    assert not word_ends_at(text, text.index("-31")) and word_ends_at(text, text.index(", at"))
    assert not word_starts_at(text, text.index("31*7")) and not word_starts_at(text, text.index("6 hours"))
    assert word_starts_at(text, text.index("KSD")) and word_ends_at(text, len(text) - 1)  # a final period ends
