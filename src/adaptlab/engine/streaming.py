"""Token streaming for a Hugging Face causal model: text pieces as they are decoded.

`TokenStream`: `transformers.generate` does the decoding (KV cache, sampling, and every
wrapper it works through: peft models, adaptlab's bottleneck adapters) on a thread of its
own. A streamer hands over each new token, at most `AHEAD` tokens before the reader takes
them, so a slow reader slows generation instead of piling text up. Closing or cancelling
the stream sets an event that a stopping criterion checks at every step: generation ends
within a step and its thread is joined before `close` returns, which is what frees a
server's slot when its client goes away.

`StepStream`: the same over a token iterator that decodes a step each time it is asked
(the prefix cache's decode, speculative decoding's rounds), run on the reader's own
thread; cancelling stops it before its next step.

Both turn tokens into text with `text_pieces`: text is emitted only once it is final: a
piece that could still turn into a stop string, or that ends inside a multi-byte
character, is held back until the next token settles it. Stop strings are matched by
`engine.stops.StopScanner`, at a cost linear in the text each token adds.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from adaptlab.engine.requests import GenerationSettings, prompt_tokens
from adaptlab.engine.sampling import distribution, rng_for
from adaptlab.engine.stops import StopScanner
from adaptlab.models.family import require_decoder

AHEAD = 2  # tokens generation may run ahead of the reader
_END = object()


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _Handover(BaseStreamer):
    """Each new token into `tokens`, waiting while the reader is `AHEAD` behind; nothing once cancelled."""

    def __init__(self, tokens: queue.Queue, cancel: threading.Event):
        self.tokens = tokens
        self.cancel = cancel
        self.room = threading.Semaphore(AHEAD)
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate's first call hands over the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            while not self.room.acquire(timeout=0.1):
                if self.cancel.is_set():
                    return
            if self.cancel.is_set():
                return
            self.tokens.put(token)

    def end(self) -> None:
        """The thread running generate reports the end itself, after generate returns or raises."""


class PrivateDraw(LogitsProcessor):
    """Sampling with one request's own generator, for `generate`: the drawn token is left as the
    only choice for its greedy step. generate's own sampling draws from torch's process-wide
    generator, which concurrent requests share, so a seeded request would not repeat and an
    unseeded one after it would repeat it."""

    def __init__(self, settings: GenerationSettings, rng: torch.Generator):
        self.settings = settings
        self.rng = rng

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        drawn = torch.multinomial(distribution(scores, self.settings), 1, generator=self.rng)
        return torch.full_like(scores, -math.inf).scatter_(1, drawn, 0.0)


def unfinished(text: str) -> int:
    """Trailing characters of `text` that are an unfinished multi-byte character (decoded as U+FFFD)."""
    count = 0
    while count < len(text) and text[-1 - count] == "\ufffd":
        count += 1
    return count


class Progress(Protocol):
    """What a stream reports of its continuation as `text_pieces` goes."""

    tokens: list[int]
    completion_tokens: int
    finish_reason: str | None


def text_pieces(progress: Progress, tokens: Iterable[int], tokenizer: PreTrainedTokenizerBase,
                settings: GenerationSettings, cancelled: threading.Event) -> Iterator[str]:
    """The text of `tokens` (new tokens, EOS left out) in pieces as each becomes final, ending before
    the first stop string; `progress` follows along. Its finish_reason: "stop" (EOS or a stop string),
    "length" (max_new_tokens), or None when `cancelled` ended the tokens early."""
    stops = StopScanner(settings.stop)
    sent = 0
    for token in tokens:
        progress.tokens.append(token)
        progress.completion_tokens += 1
        text = tokenizer.decode(progress.tokens, skip_special_tokens=True)
        settled = len(text) - unfinished(text)
        cut = stops.advance(text, settled)
        if cut is not None:
            progress.finish_reason = "stop"
            if cut > sent:
                yield text[sent:cut]
            return
        final = settled - stops.partial
        if final > sent:
            yield text[sent:final]
            sent = final
    if cancelled.is_set():
        return
    # Tokens end by themselves at EOS or after max_new_tokens.
    progress.finish_reason = "length" if progress.completion_tokens >= settings.max_new_tokens else "stop"
    text = tokenizer.decode(progress.tokens, skip_special_tokens=True)
    if len(text) > sent:
        yield text[sent:]


class TokenStream:
    """One prompt's continuation, piece by piece; `prompt_tokens`, `completion_tokens` and
    `finish_reason` ("stop": EOS or a stop string, "length": max_new_tokens, None: cancelled)
    describe it once iteration ends."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
                 settings: GenerationSettings):
        require_decoder(model, "streaming")
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        ids = prompt_tokens(model, tokenizer, prompt, settings.max_new_tokens)
        self.prompt_ids = ids
        self.prompt_tokens = len(ids)
        self.completion_tokens = 0
        self.tokens: list[int] = []  # generated so far, EOS excluded
        self.finish_reason: str | None = None
        self._cancel = threading.Event()
        self._tokens: queue.Queue = queue.Queue()
        self._handover = _Handover(self._tokens, self._cancel)
        self._thread: threading.Thread | None = None
        self._pieces = self._iterate()

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def cancel(self) -> None:
        """Stop generating within a step; safe from any thread. Iteration then ends."""
        self._cancel.set()
        self._handover.room.release()  # wake a handover waiting for room

    def close(self) -> None:
        """Cancel if still running and wait for the generating thread to end."""
        self._pieces.close()

    def _generate(self) -> None:
        s = self.settings
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        try:
            device = next(self.model.parameters()).device
            draws = [PrivateDraw(s, rng_for(s, device))] if s.temperature > 0 else []
            ids = torch.tensor([self.prompt_ids], device=device)
            with torch.no_grad():
                self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=s.max_new_tokens,
                                    use_cache=s.use_cache, pad_token_id=pad, eos_token_id=eos,
                                    streamer=self._handover, stopping_criteria=StoppingCriteriaList([_Cancelled(self._cancel)]),
                                    do_sample=False, logits_processor=LogitsProcessorList(draws))
        except BaseException as exc:  # handed to the reader, who raises it
            self._tokens.put(exc)
        finally:
            self._tokens.put(_END)

    def _handed_over(self) -> Iterator[int]:
        """New tokens as generate hands them over, EOS left out; once cancelled, only drained."""
        while (item := self._tokens.get()) is not _END:
            self._handover.room.release()
            if isinstance(item, BaseException):
                raise item
            if not self._cancel.is_set() and item != self.tokenizer.eos_token_id:
                yield item

    def _iterate(self) -> Iterator[str]:
        self._thread = threading.Thread(target=self._generate, name="token-stream", daemon=True)
        self._thread.start()
        try:
            yield from text_pieces(self, self._handed_over(), self.tokenizer, self.settings, self._cancel)
        finally:
            self.cancel()
            self._thread.join()


class StepStream:
    """TokenStream's pieces, counts and finish reasons over `start()`'s tokens (new tokens, EOS left
    out), which decode a step each time they are asked, on the reader's thread. `start` runs at the
    first piece asked for, so a stream cancelled before then does no work at all."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, settings: GenerationSettings, prompt_tokens: int,
                 start: Callable[[], Iterator[int]]):
        self.tokenizer = tokenizer
        self.settings = settings
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.tokens: list[int] = []
        self.finish_reason: str | None = None
        self._start = start
        self._cancel = threading.Event()
        self._pieces = text_pieces(self, self._steps(), tokenizer, settings, self._cancel)

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def cancel(self) -> None:
        """Stop before the next step; safe from any thread. Iteration then ends."""
        self._cancel.set()

    def close(self) -> None:
        """Stop, from the reading thread (a step in progress there has already returned)."""
        self.cancel()
        self._pieces.close()

    def _steps(self) -> Iterator[int]:
        if self._cancel.is_set():
            return
        for token in self._start():
            yield token
            if self._cancel.is_set():
                return
