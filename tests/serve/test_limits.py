"""The token budget of a request, by hand: each limit it can break is named in its 400."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adaptlab.serve.errors import APIError
from adaptlab.serve.limits import token_budget
from adaptlab.serve.settings import ServeSettings

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
