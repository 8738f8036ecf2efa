"""The limits on one request: its token budget by hand (each limit it can break is named in its
400), and, on a live server, its stop strings and the threads that prepare prompts."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import httpx
import pytest

from adaptlab.serve.errors import APIError
from adaptlab.serve.limits import token_budget
from adaptlab.serve.models import LMModel, as_served
from adaptlab.serve.settings import ServeSettings

from serve.fakes import GatedLM
from serve.harness import post_in_thread, wait_until

MODEL = SimpleNamespace(context_length=100)


def budget(prompt_tokens: int, requested: int | None, default: int = 16, **settings) -> int:
    return token_budget("m", MODEL, prompt_tokens, requested, default, ServeSettings(**settings))


def refusal(*args, **kwargs) -> str:
    with pytest.raises(APIError) as refused:
        budget(*args, **kwargs)
    assert refused.value.status == 400
    return refused.value.message


def test_asked_for_tokens_are_granted_within_every_limit():
    assert budget(10, 50) == 50
    assert budget(10, None) == 16  # the endpoint's default
    assert budget(90, None, default=512) == 10  # what the context leaves
    assert budget(10, None, default=512, max_tokens=40) == 40
    assert token_budget("m", SimpleNamespace(context_length=None), 10_000, None, 16, ServeSettings()) == 16


def test_each_broken_limit_is_named():
    assert "over the limit of 100 (the context of model 'm')" in refusal(101, 1)
    assert "over the limit of 20 (the server's --max-prompt-tokens)" in refusal(21, 1, max_prompt_tokens=20)
    assert "max_tokens 600 is over the server's limit of 512 (--max-tokens)" in refusal(10, 600)
    assert "leaves no room to generate" in refusal(100, None)
    assert "prompt (90 tokens) plus max_tokens (20) is over the context of model 'm' (100 tokens)" in refusal(90, 20)


def test_stop_strings_past_the_limits_are_400_naming_them(serve, tiny_lm):
    url = serve({"tiny": as_served(tiny_lm)})
    body = {"model": "tiny", "prompt": "Vorantide is", "max_tokens": 4, "temperature": 0}
    five = httpx.post(f"{url}/v1/completions", json={**body, "stop": ["a", "b", "c", "d", "e"]})
    assert five.status_code == 400
    assert five.json()["error"] | {"message": None} == {"message": None, "type": "invalid_request_error",
                                                          "param": "stop", "code": "too_many_stop_sequences"}
    assert "5 stop sequences, over the server's limit of 4 (--max-stop-sequences)" in five.json()["error"]["message"]
    long = httpx.post(f"{url}/v1/completions", json={**body, "stop": "x" * 257})
    assert long.status_code == 400 and long.json()["error"]["code"] == "stop_too_long"
    assert "257 characters, over the server's limit of 256 (--max-stop-chars)" in long.json()["error"]["message"]
    at_the_limits = httpx.post(f"{url}/v1/completions", json={**body, "stop": ["x" * 256] * 4})
    assert at_the_limits.status_code == 200
    assert at_the_limits.json()["choices"][0]["text"] == tiny_lm.generate_until(
        [("Vorantide is", {"max_gen_toks": 4, "until": []})])[0]


class BlockedPrompts(LMModel):
    """A served model whose prompts take until `release` is set to build (a 1 MB body to template); it answers "ok"."""

    def __init__(self) -> None:
        lm = GatedLM()
        lm.gate.set()
        super().__init__(lm)
        self.entered = threading.Event()
        self.release = threading.Event()

    def completion_prompt(self, prompt: str) -> str:
        self.entered.set()
        self.release.wait(timeout=60)
        return prompt


def test_preparing_prompts_and_feedback_is_bounded_like_generation(serve):
    model = BlockedPrompts()
    url = serve({"blocked": model}, max_concurrency=1, max_queue=0)
    results: list[httpx.Response] = []
    body = {"model": "blocked", "prompt": "Hi", "max_tokens": 2}
    first = post_in_thread(f"{url}/v1/completions", body, results)
    wait_until(model.entered.is_set, "one prompt being prepared")
    assert httpx.get(f"{url}/health").json()["preparing"] == 1
    busy = httpx.post(f"{url}/v1/completions", json=body, timeout=10)  # unbounded, it would wait for the release
    assert busy.status_code == 429 and "1 requests being prepared" in busy.json()["error"]["message"]
    feedback = httpx.post(f"{url}/v1/feedback", json={"id": "cmpl-any", "rating": 1}, timeout=10)
    assert feedback.status_code == 429
    model.release.set()
    first.join()
    assert results[0].status_code == 200 and results[0].json()["choices"][0]["text"] == "ok"
    assert httpx.post(f"{url}/v1/feedback", json={"id": "cmpl-any", "rating": 1}).status_code == 404
