"""The server driven by the official `openai` client over loopback: answers equal the LM's own,
streams equal whole answers, usage counts the tokens, and each bad request gets its 4xx."""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest
from serve.harness import running

from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.serve.app import create_app
from adaptlab.serve.models import as_served
from adaptlab.serve.settings import ServeSettings
from adaptlab.tokenization.chat import ensure_chat_template, render_prompt

KEY = "test-key"
PROMPT = "Vorantide is"


@pytest.fixture(scope="module")
def server(tiny_lm, tmp_path_factory):
    db = tmp_path_factory.mktemp("feedback") / "feedback.sqlite3"
    settings = ServeSettings(api_key=KEY, max_tokens=32, max_body_bytes=20_000, feedback_db=db)
    with running(create_app({"tiny": as_served(tiny_lm)}, settings)) as url:
        yield url, db


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=KEY, max_retries=0)


def greedy(lm, prompt: str, max_tokens: int, stop: list[str] | None = None) -> str:
    return lm.generate_until([(prompt, {"max_gen_toks": max_tokens, "until": stop or []})])[0]


def test_models_lists_the_served_names(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"


def test_completion_is_the_lms_own_answer_with_usage(client, tiny_lm):
    reply = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=8, temperature=0)
    assert reply.choices[0].text == greedy(tiny_lm, PROMPT, 8)
    assert reply.id.startswith("cmpl-") and reply.model == "tiny"
    assert reply.usage.prompt_tokens == 1 + len(tiny_lm.encode(PROMPT))  # the EOS separator, then the prompt
    assert reply.usage.completion_tokens == 8 and reply.choices[0].finish_reason == "length"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 8


def test_streamed_completion_adds_up_to_the_whole_one(client):
    whole = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0)
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_stop_string_cuts_the_answer(client, tiny_lm):
    full = greedy(tiny_lm, PROMPT, 16)
    stop = full[6:9]
    reply = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16, temperature=0, stop=[stop])
    assert reply.choices[0].text == full[: full.find(stop)]
    assert reply.choices[0].finish_reason == "stop"


def test_chat_goes_through_the_chat_template(client, tiny_lm):
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Who makes Vorantide?"}]
    ensure_chat_template(tiny_lm.tokenizer)
    rendered = render_prompt(tiny_lm.tokenizer, messages)
    expected = generate(tiny_lm.model, tiny_lm.tokenizer, [rendered], GenerationSettings(max_new_tokens=6,
                                                                                          temperature=0))[0].text
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0)
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected
    assert reply.usage.prompt_tokens == 1 + len(tiny_lm.encode(rendered))
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0,
                                                 stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "length"


def test_chat_without_max_tokens_gets_the_servers_cap(client, tiny_lm):
    """The server's --max-tokens (32 here) is the budget: the answer is the model's own 32-token greedy one."""
    messages = [{"role": "user", "content": "Dose?"}]  # 25 tokens rendered: 32 more fit the 64-token context
    ensure_chat_template(tiny_lm.tokenizer)
    rendered = render_prompt(tiny_lm.tokenizer, messages)
    own = generate(tiny_lm.model, tiny_lm.tokenizer, [rendered], GenerationSettings(max_new_tokens=32,
                                                                                     temperature=0))[0]
    assert len(own.tokens) == 32  # the tiny model does not say EOS within the cap: a cap of 32 is visible
    reply = client.chat.completions.create(model="tiny", messages=messages, temperature=0)
    assert reply.choices[0].message.content == own.text
    assert reply.usage.completion_tokens == 32 and reply.choices[0].finish_reason == "length"


def test_health_needs_no_key(server):
    health = httpx.get(f"{server[0]}/health").json()
    assert health["status"] == "ok" and health["models"] == ["tiny"]


def test_bad_or_missing_key_is_401(server):
    wrong = openai.OpenAI(base_url=f"{server[0]}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.status_code == 401 and "invalid API key" in refused.value.message
    missing = httpx.get(f"{server[0]}/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"


def test_unknown_model_is_404_naming_the_available_ones(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.completions.create(model="gpt-4", prompt="Hi")
    assert "'gpt-4' not found; available: tiny" in missing.value.message
    assert missing.value.body["code"] == "model_not_found"


def test_malformed_json_is_400(server):
    reply = httpx.post(f"{server[0]}/v1/completions", content=b'{"model": "tiny", "prompt": ',
                       headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["message"].startswith("malformed JSON body") and error["type"] == "invalid_request_error"


def test_prompt_over_the_context_is_400_naming_the_limit(client, tiny_lm):
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="tiny", prompt="word " * 200, max_tokens=4)
    assert f"over the limit of {tiny_lm.max_length} (the context of model 'tiny')" in refused.value.message


def test_prompt_plus_max_tokens_over_the_context_is_400(client, tiny_lm):
    prompt = "word"
    while 1 + len(tiny_lm.encode(prompt)) <= tiny_lm.max_length - 32:
        prompt += " word"
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="tiny", prompt=prompt, max_tokens=32)
    assert f"plus max_tokens (32) is over the context of model 'tiny' ({tiny_lm.max_length} tokens)" \
        in refused.value.message


def test_max_tokens_over_the_servers_limit_is_400(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="tiny", prompt="Hi", max_tokens=33)
    assert "over the server's limit of 32 (--max-tokens)" in refused.value.message
    assert refused.value.body["param"] == "max_tokens"


def test_max_completion_tokens_over_the_limit_is_named_as_sent(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}],
                                       max_completion_tokens=33)
    assert refused.value.body["message"].startswith("max_completion_tokens 33 is over the server's limit of 32")
    assert refused.value.body["param"] == "max_completion_tokens"


def test_unsupported_and_invalid_fields_are_400(client):
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.completions.create(model="tiny", prompt="Hi", n=2)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model="tiny", prompt="Hi", temperature=-1)
    with pytest.raises(openai.BadRequestError, match="seed: Input should be less than or equal to"):
        client.completions.create(model="tiny", prompt="Hi", seed=2**64, temperature=0)
    with pytest.raises(openai.BadRequestError, match="token ids are not served; send the prompt as text"):
        client.completions.create(model="tiny", prompt=[74, 282, 362])


@pytest.mark.parametrize(("endpoint", "field", "value"), [
    ("completions", "echo", True), ("completions", "logprobs", 2), ("completions", "best_of", 3),
    ("completions", "suffix", " end"), ("completions", "logit_bias", {"44": -100}),
    ("chat", "logprobs", True), ("chat", "top_logprobs", 2), ("chat", "tool_choice", "required"),
    ("chat", "tools", [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    ("chat", "response_format", {"type": "json_object"}),
])
def test_fields_whose_answer_is_not_served_are_400_naming_them(client, endpoint, field, value):
    """Ignoring them would answer as if they had been honoured (no echo, no logprobs, no tool call)."""
    create = client.completions.create if endpoint == "completions" else client.chat.completions.create
    asked = {"prompt": "Hi"} if endpoint == "completions" else {"messages": [{"role": "user", "content": "Hi"}]}
    with pytest.raises(openai.BadRequestError) as refused:
        create(model="tiny", max_tokens=2, **asked, **{field: value})
    assert refused.value.body["message"].startswith(f"{field}=") and "is not served here" in refused.value.message
    assert refused.value.body["param"] == field


def test_fields_that_ask_for_nothing_are_accepted(client):
    """What clients send by default, or to say "off", is served as if absent."""
    whole = client.completions.create(model="tiny", prompt="Hi", max_tokens=4, temperature=0, echo=False,
                                      logprobs=0, best_of=1, logit_bias={}, presence_penalty=0.5, user="u")
    assert whole.choices[0].text == client.completions.create(model="tiny", prompt="Hi", max_tokens=4,
                                                              temperature=0).choices[0].text
    client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=2,
                                   logprobs=False, tool_choice="none", response_format={"type": "text"})


def test_body_over_the_limit_is_413(server):
    reply = httpx.post(f"{server[0]}/v1/completions", json={"model": "tiny", "prompt": "x" * 30_000},
                       headers={"Authorization": f"Bearer {KEY}"})
    assert reply.status_code == 413 and "limit of 20000 bytes" in reply.json()["error"]["message"]


def test_feedback_round_trip(client, server):
    reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Dose?"}],
                                           max_tokens=4, temperature=0)
    http = httpx.Client(base_url=f"{server[0]}/v1", headers={"Authorization": f"Bearer {KEY}"})
    stored = http.post("/feedback", json={"id": reply.id, "rating": -1, "preferred": "10 mg daily."})
    assert stored.status_code == 200 and stored.json()["completion_id"] == reply.id
    with sqlite3.connect(server[1]) as db:
        served = db.execute("SELECT model, request, response, completion_tokens FROM completions WHERE id = ?",
                            (reply.id,)).fetchone()
        rated = db.execute("SELECT rating, preferred FROM feedback WHERE completion_id = ?", (reply.id,)).fetchall()
    assert served[0] == "tiny" and '"Dose?"' in served[1]
    assert served[2] == reply.choices[0].message.content and served[3] == reply.usage.completion_tokens
    assert rated == [(-1, "10 mg daily.")]
    unknown = http.post("/feedback", json={"id": "chatcmpl-never-served", "rating": 1})
    assert unknown.status_code == 404 and "chatcmpl-never-served" in unknown.json()["error"]["message"]
    assert http.post("/feedback", json={"id": reply.id, "rating": 5}).status_code == 400


def test_streamed_completions_are_recorded_for_feedback(client, server):
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0, stream=True))
    http = httpx.Client(base_url=f"{server[0]}/v1", headers={"Authorization": f"Bearer {KEY}"})
    assert http.post("/feedback", json={"id": chunks[0].id, "rating": 1}).status_code == 200
