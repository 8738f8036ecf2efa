"""Served models behind the response cache: a request the cache has answered before (same
rendered prompt, model and output-changing settings; greedy unless the cache takes sampled
ones) is answered from disk in one piece, without a slot's worth of generation. The model is
keyed by its served name and its identity (a fingerprint of weights, adapter, tokenizer and,
for RAG, the index), so a folder retrained or an index rebuilt under the same name starts afresh.

Only answers that ended by themselves (EOS, a stop string or max_tokens) are stored: one
cut short by a client hanging up or a timeout is not the model's whole answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from adaptlab.engine.requests import Generation, GenerationSettings
from adaptlab.engine.response_cache import ResponseCache
from adaptlab.serve.jobs import Stream
from adaptlab.serve.models import Messages, ServedModel


class StoredAnswer:
    """A stream of one piece: a cached generation."""

    def __init__(self, generation: Generation, prompt_tokens: int, completion_tokens: int, max_new_tokens: int):
        self.text = generation.text
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.finish_reason: str | None = "length" if completion_tokens >= max_new_tokens else "stop"

    def __iter__(self) -> Iterator[str]:
        yield self.text

    def cancel(self) -> None:
        """Nothing runs."""

    def close(self) -> None:
        """Nothing runs."""


class RecordedStream:
    """The model's stream, passed through; its whole answer is stored once it ends by itself."""

    def __init__(self, stream: Stream, store: Callable[[Generation], None]):
        self.stream = stream
        self.store = store

    @property
    def prompt_tokens(self) -> int:
        return self.stream.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self.stream.completion_tokens

    @property
    def finish_reason(self) -> str | None:
        return self.stream.finish_reason

    def __iter__(self) -> Iterator[str]:
        pieces = []
        for piece in self.stream:
            pieces.append(piece)
            yield piece
        if self.stream.finish_reason is not None:
            self.store(Generation("".join(pieces), list(getattr(self.stream, "tokens", []))))

    def cancel(self) -> None:
        self.stream.cancel()

    def close(self) -> None:
        self.stream.close()


class CachedModel:
    """`model`, served under `name`, answering from `cache` where it can. Its identity is taken once, here
    (it reads every weight), so the first request is not the one that waits for it."""

    def __init__(self, model: ServedModel, name: str, cache: ResponseCache):
        self.model = model
        self.name = name
        self.cache = cache
        self.context_length = model.context_length
        self.key = f"{name}@{model.identity()}"

    def completion_prompt(self, prompt: str) -> str:
        return self.model.completion_prompt(prompt)

    def chat_prompt(self, messages: Messages) -> str:
        return self.model.chat_prompt(messages)

    def count_tokens(self, prompt: str) -> int:
        return self.model.count_tokens(prompt)

    def identity(self) -> str:
        return self.model.identity()

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        stored = self.cache.get(prompt, self.key, settings)
        if stored is not None:
            # A model that streams token ids stored them; any other counts its text as it would have.
            completion = len(stored.tokens) if stored.tokens else self.model.count_tokens(stored.text)
            return StoredAnswer(stored, self.model.count_tokens(prompt), completion, settings.max_new_tokens)
        return RecordedStream(self.model.stream(prompt, settings),
                              lambda generation: self.cache.put(prompt, self.key, settings, generation))


def with_response_cache(models: Mapping[str, ServedModel], cache: ResponseCache) -> dict[str, ServedModel]:
    return {name: CachedModel(model, name, cache) for name, model in models.items()}
