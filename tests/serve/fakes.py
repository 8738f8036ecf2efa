"""Stand-in models whose timing the test controls: one that answers only when released, one
whose streams never end until cancelled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from adaptlab.engine.requests import GenerationSettings
from adaptlab.lm import LM

SAFETY_SECONDS = 60


class GatedLM(LM):
    """Answers "ok" once `gate` is set: requests stay running exactly as long as the test wants."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        self.gate.wait(timeout=60)
        return ["ok" for _ in requests]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        raise NotImplementedError


class EndlessStream:
    """Yields "tick" until cancelled, as a generation with no end would; records its cancellation.
    (It gives up after `SAFETY_SECONDS`, so a server that never cancels fails a test instead of hanging it.)"""

    def __init__(self, cancelled: threading.Event):
        self.cancelled = cancelled
        self.prompt_tokens = 1
        self.completion_tokens = 0
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        give_up = time.monotonic() + SAFETY_SECONDS
        while not self.cancelled.is_set() and time.monotonic() < give_up:
            self.completion_tokens += 1
            yield "tick "
            self.cancelled.wait(0.01)

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        self.cancel()


class EndlessModel:
    """A served model whose streams never end by themselves; `cancelled` is set once one is stopped."""

    context_length = None

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def completion_prompt(self, prompt: str) -> str:
        return prompt

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        return messages[-1]["content"]

    def count_tokens(self, prompt: str) -> int:
        return 1

    def stream(self, prompt: str, settings: GenerationSettings) -> EndlessStream:
        return EndlessStream(self.cancelled)

    def identity(self) -> str:
        return "endless"


class SlowStream(EndlessStream):
    """`pieces` pieces of "tick ", `delay` seconds apart, then an end of its own (finish_reason "stop"),
    unless cancelled first."""

    def __init__(self, cancelled: threading.Event, pieces: int, delay: float):
        super().__init__(cancelled)
        self.pieces = pieces
        self.delay = delay

    def __iter__(self) -> Iterator[str]:
        for _ in range(self.pieces):
            if self.cancelled.wait(self.delay):
                return
            self.completion_tokens += 1
            yield "tick "
        self.finish_reason = "stop"


class SlowModel(EndlessModel):
    """A served model whose answers take `pieces` × `delay` seconds and then end by themselves."""

    def __init__(self, pieces: int, delay: float) -> None:
        super().__init__()
        self.pieces = pieces
        self.delay = delay

    def stream(self, prompt: str, settings: GenerationSettings) -> SlowStream:
        return SlowStream(self.cancelled, self.pieces, self.delay)

    def identity(self) -> str:
        return f"slow-{self.pieces}x{self.delay}"
