"""What the server needs from a model beyond the `LM` interface: how a request becomes the
text the model is given, how many tokens that is, and a stream of the answer.

- `HFModel`: an `HFCausalLM` (a base, or one with a peft or bottleneck adapter). Completions
  are given as `generate_until` gives them (a chat model's prompt becomes its user turn);
  chat requests go through the tokenizer's chat template, whole conversation included.
- `RagModel`: a `RagLM` over an `HFCausalLM` reader. The prompt, or the last user message
  of a chat, is the question; passages are retrieved and fitted on the worker thread.
- Both stream token by token through a `serve.decoding.Decoding` (plain `generate` unless
  --prefix-cache-mb or --draft say otherwise).
- `LMModel`: any other `LM`, answered by one `generate_until` call, so its text arrives as
  a single piece and it cannot be stopped midway; it sees the last user message of a chat.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from adaptlab.engine.requests import GenerationSettings, cut_at_stop
from adaptlab.lm import LM, HFCausalLM
from adaptlab.serve.decoding import Decoding, Generated
from adaptlab.serve.jobs import Stream

if TYPE_CHECKING:
    from adaptlab.retrieval.rag import RagLM

Messages = Sequence[dict[str, str]]


class ServedModel(Protocol):
    context_length: int | None  # tokens of prompt plus generation the model takes; None: no fixed limit

    def completion_prompt(self, prompt: str) -> str: ...

    def chat_prompt(self, messages: Messages) -> str: ...

    def count_tokens(self, prompt: str) -> int:
        """Tokens the model is given for `prompt` (as returned by the two methods above)."""
        ...

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream: ...

    def identity(self) -> str:
        """What decides the answers (a fingerprint of weights, tokenizer, index...): a response cache keys on it."""
        ...


def identity_of(lm: LM) -> str:
    """The LM's fingerprint; an LM without one is its own for this process only, so answers cached from
    it are never given by another system, nor by itself after a restart."""
    return lm.fingerprint() or f"process-{uuid.uuid4().hex}"


def last_user_message(messages: Messages) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else messages[-1]["content"]


class HFModel:
    def __init__(self, lm: HFCausalLM, decoding: Decoding | None = None):
        self.lm = lm
        self.decoding = decoding or Generated(lm)
        self.context_length = self.decoding.context_length

    def completion_prompt(self, prompt: str) -> str:
        return self.lm.render(prompt)

    def chat_prompt(self, messages: Messages) -> str:
        from adaptlab.tokenization.chat import ensure_chat_template, render_prompt

        ensure_chat_template(self.lm.tokenizer)
        return render_prompt(self.lm.tokenizer, list(messages))

    def count_tokens(self, prompt: str) -> int:
        return 1 + len(self.lm.encode(prompt))  # generation puts EOS, the document separator, first

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        return self.decoding.stream(prompt, settings)

    def identity(self) -> str:
        return self.lm.fingerprint()


class RagModel:
    """Without stop strings from the client, answers end at the first newline, as `RagLM` answers."""

    def __init__(self, rag: RagLM, decoding: Decoding | None = None):
        """`decoding`: the reader's."""
        if not isinstance(rag.reader, HFCausalLM):
            raise TypeError("RagModel streams through an HFCausalLM reader")
        self.rag = rag
        self.reader = rag.reader
        self.decoding = decoding or Generated(self.reader)
        self.context_length = self.decoding.context_length

    def completion_prompt(self, prompt: str) -> str:
        return prompt

    def chat_prompt(self, messages: Messages) -> str:
        return last_user_message(messages)

    def count_tokens(self, prompt: str) -> int:
        return 1 + len(self.reader.encode(self.reader.render(prompt)))

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        from adaptlab.retrieval.rag import DEFAULT_GEN_KWARGS

        [(fitted, _)] = self.rag.fitted_prompts([prompt], [settings.max_new_tokens])
        if not settings.stop:
            settings = settings.model_copy(update={"stop": DEFAULT_GEN_KWARGS["until"]})
        return self.decoding.stream(self.reader.render(fitted), settings)

    def identity(self) -> str:
        return identity_of(self.rag)


class WholeText:
    """A stream of one piece: an `LM`'s `generate_until` answer."""

    def __init__(self, lm: LM, prompt: str, settings: GenerationSettings, count: Callable[[str], int]):
        self.lm, self.prompt, self.settings, self.count = lm, prompt, settings, count
        self.prompt_tokens = count(prompt)
        self.completion_tokens = 0
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        s = self.settings
        text = cut_at_stop(self.lm.generate_until([(self.prompt, s.gen_kwargs())])[0], s.stop)
        self.completion_tokens = self.count(text)
        self.finish_reason = "length" if self.completion_tokens >= s.max_new_tokens else "stop"
        yield text

    def cancel(self) -> None:
        """A single generate_until call cannot be interrupted; the worker ends when it returns."""

    def close(self) -> None:
        """Nothing runs beside the worker thread."""


class LMModel:
    """Tokens are counted with the LM's `encode` when it has one, else as whitespace-separated words."""

    context_length: int | None = None

    def __init__(self, lm: LM):
        self.lm = lm
        self._identity = identity_of(lm)
        encode = getattr(lm, "encode", None)
        self._count: Callable[[str], int] = (lambda text: len(encode(text))) if callable(encode) \
            else (lambda text: len(text.split()))

    def completion_prompt(self, prompt: str) -> str:
        return prompt

    def chat_prompt(self, messages: Messages) -> str:
        return last_user_message(messages)

    def count_tokens(self, prompt: str) -> int:
        return self._count(prompt)

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        return WholeText(self.lm, prompt, settings, self._count)

    def identity(self) -> str:
        return self._identity


def as_served(lm: LM) -> ServedModel:
    """The richest way to serve `lm`: token streaming wherever an HF model does the generating."""
    if isinstance(lm, HFCausalLM):
        return HFModel(lm)
    from adaptlab.retrieval.rag import RagLM

    if isinstance(lm, RagLM) and isinstance(lm.reader, HFCausalLM):
        return RagModel(lm)
    return LMModel(lm)
