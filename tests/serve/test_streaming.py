"""Token streaming (adaptlab.engine.streaming) by each way a served model decodes (serve.decoding:
generate on its own thread, prefix-cached or drafted step by step): the pieces add up to what
`generate` gives, stop strings cut it, and closing a stream early stops generation (and ends its thread)."""

from __future__ import annotations

import threading

import pytest

from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings, cut_at_stop
from adaptlab.engine.streaming import AHEAD, TokenStream
from adaptlab.errors import UserError
from adaptlab.serve.decoding import Decodings, Draft, Generated, PrefixCached

PROMPT = "Vorantide is"


class ThroughGenerate:
    """transformers' generate on a thread (`TokenStream`): how every model the compact forward
    does not cover decodes (adapters, peft wrappers, other architectures)."""

    def __init__(self, lm):
        self.lm = lm

    def stream(self, prompt: str, settings: GenerationSettings) -> TokenStream:
        return TokenStream(self.lm.model, self.lm.tokenizer, prompt, settings)


@pytest.fixture(params=["generate", "transformers generate", "prefix cache", "draft"])
def decoding(request, tiny_lm):
    if request.param == "generate":
        return Generated(tiny_lm)
    if request.param == "transformers generate":
        return ThroughGenerate(tiny_lm)
    if request.param == "prefix cache":
        return PrefixCached(tiny_lm, 2**20)
    draft = request.getfixturevalue("draft_lm")
    return Decodings(draft=Draft(request.getfixturevalue("draft_dir"), draft)).for_model("tiny", tiny_lm)


def test_pieces_add_up_to_generate(tiny_lm, decoding):
    settings = GenerationSettings(max_new_tokens=20, temperature=0)
    whole = generate(tiny_lm.model, tiny_lm.tokenizer, [PROMPT], settings)[0]
    stream = decoding.stream(PROMPT, settings)
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == whole.text
    assert stream.prompt_tokens == 1 + len(tiny_lm.encode(PROMPT))
    assert stream.completion_tokens == len(whole.tokens)
    assert stream.finish_reason == ("length" if len(whole.tokens) == 20 else "stop")  # "stop": it said EOS


def test_a_stop_string_ends_the_stream_before_it(tiny_lm, decoding):
    full = generate(tiny_lm.model, tiny_lm.tokenizer, [PROMPT], GenerationSettings(max_new_tokens=20,
                                                                                   temperature=0))[0].text
    stop = full[8:11]
    settings = GenerationSettings(max_new_tokens=20, temperature=0, stop=["never there", stop])
    stream = decoding.stream(PROMPT, settings)
    assert "".join(stream) == cut_at_stop(full, [stop])
    assert stream.finish_reason == "stop" and stream.completion_tokens < 20


def generating(stream) -> bool:
    """Whether a TokenStream's thread still runs (a step-by-step stream runs on its reader's thread)."""
    return isinstance(stream, TokenStream) and stream._thread.is_alive()


def test_closing_early_stops_generation(decoding):
    settings = GenerationSettings(max_new_tokens=40, temperature=0)
    stream = decoding.stream(PROMPT, settings)
    next(iter(stream))
    stream.close()
    assert not generating(stream)
    assert stream.finish_reason is None
    assert stream.completion_tokens <= 1 + AHEAD  # generation ran at most a step or two ahead of the reader


def test_cancel_from_another_thread_ends_iteration(decoding):
    stream = decoding.stream(PROMPT, GenerationSettings(max_new_tokens=40, temperature=0))
    pieces = iter(stream)
    next(pieces)
    canceller = threading.Thread(target=stream.cancel)
    canceller.start()
    canceller.join()
    rest = list(pieces)
    assert len(rest) <= AHEAD and stream.finish_reason is None and not generating(stream)
    assert stream.completion_tokens <= 1 + AHEAD


def test_sampling_with_a_seed_repeats(decoding):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, top_k=20, seed=7)
    runs = ["".join(decoding.stream(PROMPT, settings)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_a_seed_repeats_while_other_requests_sample(decoding):
    """Every path draws from the request's own generator: sampled requests running alongside
    (each on a thread, as the server runs them) cannot shift a seeded request's draws."""
    seeded = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=7)
    alone = "".join(decoding.stream(PROMPT, seeded))
    started, done = threading.Barrier(3), threading.Event()

    def sample_until_done() -> None:
        pieces = iter(decoding.stream(PROMPT, GenerationSettings(max_new_tokens=24, temperature=1.0)))
        next(pieces, None)
        started.wait(timeout=60)
        while not done.is_set():
            if next(pieces, None) is None:
                pieces = iter(decoding.stream(PROMPT, GenerationSettings(max_new_tokens=24, temperature=1.0)))

    threads = [threading.Thread(target=sample_until_done) for _ in range(2)]
    for thread in threads:
        thread.start()
    started.wait(timeout=60)
    beside = "".join(decoding.stream(PROMPT, seeded))
    done.set()
    for thread in threads:
        thread.join()
    assert beside == alone


def test_an_unseeded_request_after_a_seeded_one_is_not_a_replay(decoding):
    seeded = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=7)
    unseeded = GenerationSettings(max_new_tokens=16, temperature=1.0)
    after = []
    for _ in range(2):
        "".join(decoding.stream(PROMPT, seeded))
        after.append("".join(decoding.stream(PROMPT, unseeded)))
    assert after[0] != after[1]


def test_prompts_keep_their_end_within_the_context(tiny_lm, decoding):
    stream = decoding.stream("word " * 200, GenerationSettings(max_new_tokens=8))
    assert stream.prompt_tokens == tiny_lm.max_length - 8
    "".join(stream)  # the whole context is used, and no more
    assert stream.finish_reason is not None
    with pytest.raises(UserError, match="leaves no room for a prompt"):
        decoding.stream(PROMPT, GenerationSettings(max_new_tokens=tiny_lm.max_length))
