"""The server behind LangChain's OpenAI connector, as the README shows it: `ChatOpenAI` pointed at
it through base_url answers, streams and reports usage the way the official client sees them."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from adaptlab.serve.app import create_app
from adaptlab.serve.models import as_served
from adaptlab.serve.settings import ServeSettings

from serve.harness import running

KEY = "test-key"
MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Who makes Vorantide?"}]


@pytest.fixture(scope="module")
def url(tiny_lm, tmp_path_factory):
    db = tmp_path_factory.mktemp("feedback") / "feedback.sqlite3"
    with running(create_app({"tiny": as_served(tiny_lm)}, ServeSettings(api_key=KEY, max_tokens=32,
                                                                       feedback_db=db))) as base:
        yield f"{base}/v1"


@pytest.fixture
def expected(url) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
    return client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=6, temperature=0)


def chat(url: str, **options) -> ChatOpenAI:
    return ChatOpenAI(base_url=url, api_key=KEY, model="tiny", temperature=0, max_tokens=6, max_retries=0,
                      **options)


def langchain_messages() -> list:
    return [SystemMessage(MESSAGES[0]["content"]), HumanMessage(MESSAGES[1]["content"])]


def test_invoke_answers_as_the_openai_client_sees_it(url, expected):
    reply = chat(url).invoke(langchain_messages())
    assert reply.content == expected.choices[0].message.content
    assert reply.usage_metadata["input_tokens"] == expected.usage.prompt_tokens
    assert reply.usage_metadata["output_tokens"] == expected.usage.completion_tokens
    assert reply.response_metadata["finish_reason"] == "length"


def test_stream_adds_up_to_the_whole_answer_with_usage(url, expected):
    chunks = list(chat(url, stream_usage=True).stream(langchain_messages()))
    assert "".join(c.content for c in chunks) == expected.choices[0].message.content
    whole = sum(chunks[1:], chunks[0])
    assert whole.usage_metadata["output_tokens"] == expected.usage.completion_tokens


def test_a_wrong_model_name_surfaces_as_the_servers_404(url):
    with pytest.raises(openai.NotFoundError, match="tiny"):
        ChatOpenAI(base_url=url, api_key=KEY, model="nope", max_retries=0).invoke("hi")
