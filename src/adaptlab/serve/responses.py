"""The JSON bodies of an answer, whole or streamed as server-sent events, in the shape of the
endpoint asked (text completion or chat completion), as OpenAI's own clients parse them."""

from __future__ import annotations

import json
from typing import Any

from adaptlab.serve.jobs import Finished
from adaptlab.serve.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    Usage,
    now,
)


def sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


class Chunks:
    """The JSON bodies of one request's answer, whole or streamed, in the shape of its endpoint."""

    def __init__(self, chat: bool, completion_id: str, model: str):
        self.chat = chat
        self.id = completion_id
        self.model = model
        self.created = now()

    def opening(self) -> list[dict[str, Any]]:
        """OpenAI's chat streams announce the assistant's role first."""
        return [self._chunk(Delta(role="assistant", content=""), None)] if self.chat else []

    def piece(self, text: str) -> dict[str, Any]:
        return self._chunk(Delta(content=text), None) if self.chat else self._text(text, None)

    def closing(self, done: Finished, include_usage: bool) -> list[dict[str, Any]]:
        last = self._chunk(Delta(), done.finish_reason) if self.chat else self._text("", done.finish_reason)
        if not include_usage:
            return [last]
        usage = Usage.of(done.prompt_tokens, done.completion_tokens)
        cls = ChatCompletionChunk if self.chat else Completion
        return [last, cls(id=self.id, created=self.created, model=self.model, choices=[], usage=usage).model_dump()]

    def whole(self, text: str, done: Finished) -> dict[str, Any]:
        usage = Usage.of(done.prompt_tokens, done.completion_tokens)
        if self.chat:
            choice = ChatChoice(message=AssistantMessage(content=text), finish_reason=done.finish_reason)
            return ChatCompletion(id=self.id, created=self.created, model=self.model, choices=[choice],
                                  usage=usage).model_dump()
        choice = CompletionChoice(text=text, finish_reason=done.finish_reason)
        return Completion(id=self.id, created=self.created, model=self.model, choices=[choice], usage=usage).model_dump()

    def _chunk(self, delta: Delta, finish_reason: str | None) -> dict[str, Any]:
        choice = ChunkChoice(delta=delta, finish_reason=finish_reason)
        return ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[choice]).model_dump()

    def _text(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        choice = CompletionChoice(text=text, finish_reason=finish_reason)
        return Completion(id=self.id, created=self.created, model=self.model, choices=[choice]).model_dump()
