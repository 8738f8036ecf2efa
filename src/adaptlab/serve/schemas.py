"""Request and response bodies of the OpenAI API subset served here.

Requests ignore fields that only tune sampling (clients such as LangChain send penalties
and the like by default) but refuse values they cannot honour, such as n > 1, and any
field whose answer would look served while it was not (`UNSERVED`: echo, log
probabilities, logit bias, tools, JSON mode, ...) unless it is absent or says "off".
Responses carry every field OpenAI's own do, nulls included, so strict clients parse them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adaptlab.engine.requests import SEEDS


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


def _off(*values: object) -> Callable[[object], bool]:
    return lambda value: value is None or any(value == v and type(value) is type(v) for v in values)


# Fields whose request changes the shape or content of the answer, with the values that ask for nothing.
UNSERVED: dict[str, tuple[Callable[[object], bool], str]] = {
    "echo": (_off(False), "false"),
    "logprobs": (_off(False, 0), "false or 0"),
    "top_logprobs": (_off(0), "0"),
    "best_of": (_off(1), "1"),
    "suffix": (_off(""), "an empty string"),
    "logit_bias": (_off({}), "an empty object"),
    "tools": (_off([]), "an empty list"),
    "functions": (_off([]), "an empty list"),
    "tool_choice": (_off("none", "auto"), '"none" or "auto"'),
    "function_call": (_off("none", "auto"), '"none" or "auto"'),
    "response_format": (_off({"type": "text"}), '{"type": "text"}'),
}


class Unserved(ValueError):
    """A field asking for something this server does not do; `field` becomes the error's param."""

    def __init__(self, field: str, value: object, accepted: str):
        super().__init__(f"{field}={json.dumps(value)} is not served here (accepted: absent, or {accepted})")
        self.field = field


class GenerationRequest(BaseModel):
    """The settings both endpoints share; OpenAI's defaults (temperature 1, top_p 1)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=SEEDS[0], le=SEEDS[1])
    n: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _nothing_unserved(cls, body: Any) -> Any:
        if isinstance(body, dict):
            for field, (off, accepted) in UNSERVED.items():
                if not off(body.get(field)):
                    raise Unserved(field, body[field], accepted)
        return body

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n not in (None, 1):
            raise ValueError("only n=1 (one choice per request) is served")
        return n

    @property
    def stop_strings(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @property
    def requested_tokens(self) -> int | None:
        return self.max_tokens

    @property
    def token_field(self) -> str:
        """The field that set `requested_tokens`, for error messages."""
        return "max_tokens"


class CompletionRequest(GenerationRequest):
    prompt: str | list[str]

    @field_validator("prompt", mode="before")
    @classmethod
    def _text(cls, prompt: Any) -> Any:
        if isinstance(prompt, list) and any(isinstance(p, (int, list)) for p in prompt):
            raise ValueError("prompts given as token ids are not served; send the prompt as text")
        return prompt

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: str | list[str]) -> str | list[str]:
        if isinstance(prompt, list) and len(prompt) != 1:
            raise ValueError(f"one prompt per request is served, got a list of {len(prompt)}")
        return prompt

    @property
    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def as_dict(self) -> dict[str, str]:
        """As a chat template takes it: OpenAI's `developer` is the system role; text parts joined."""
        content = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": content}


class ChatCompletionRequest(GenerationRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, gt=0)

    @property
    def requested_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def token_field(self) -> str:
        return "max_completion_tokens" if self.max_completion_tokens else "max_tokens"


class FeedbackRequest(BaseModel):
    """A rating of a served completion (1 good, 0 neutral, -1 bad) and, optionally, the answer
    that should have been given: the raw material of later preference tuning. A later rating of
    the same completion replaces the earlier one."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(max_length=200, description="the completion id the server returned")
    rating: int = Field(strict=True, ge=-1, le=1, description="an integer: true or \"1\" is refused")
    preferred: str | None = None  # its length is the server's to bound (--max-feedback-chars)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=prompt_tokens + completion_tokens)


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: str | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    logprobs: None = None
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "adaptlab"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def new_id(prefix: str) -> str:
    """A completion id as OpenAI spells them (cmpl-..., chatcmpl-...), unique across restarts."""
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())
