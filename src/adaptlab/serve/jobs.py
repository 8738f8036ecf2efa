"""One generation on a worker thread, its text pieces handed to the event loop as they come.

Generation is CPU-bound and blocking; run on the event loop it would stall every other
request, /health included. A job runs the stream on a pool thread and posts each piece
back with `call_soon_threadsafe`; the handler awaits them. Cancelling a job (timeout,
client gone) cancels its stream, whose generation ends within a step; the slot is
released only when the worker is done.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol


class Stream(Protocol):
    """What a served model generates through: `adaptlab.engine.streaming.TokenStream` is one."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None

    def __iter__(self) -> Iterator[str]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Piece:
    text: str


@dataclass(frozen=True)
class Finished:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None


@dataclass(frozen=True)
class Failed:
    error: Exception


Event = Piece | Finished | Failed


class Job:
    """`open_stream` and the iteration run on a worker thread; `on_finish(text, stream)` runs there
    too once the stream has ended (completed or cancelled), before `Finished` is posted."""

    def __init__(self, open_stream: Callable[[], Stream], on_finish: Callable[[str, Stream], None]):
        self._open = open_stream
        self._on_finish = on_finish
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._stream: Stream | None = None
        self.interruption: Exception | None = None  # why the server ended the request, if it did
        self.waiting: asyncio.Timeout | None = None  # the deadline its handler is awaiting under, if any

    def start(self, executor: Executor, release: Callable[[], None]) -> None:
        """Run on `executor`; `release` is called on the event loop when the worker is done."""
        self._release = release
        executor.submit(self._work)

    async def next(self) -> Event:
        return await self._events.get()

    def cancel(self) -> None:
        """Stop the generation (safe at any time, repeatedly, from the event loop)."""
        self._cancelled.set()
        if self._stream is not None:
            self._stream.cancel()

    def interrupt(self, error: Exception) -> None:
        """End the request with `error` (from the event loop): the generation is cancelled, and a handler
        awaiting a slot or an event under `waiting` is woken at once."""
        self.interruption = error
        self.cancel()
        if self.waiting is not None:
            self.waiting.reschedule(self._loop.time())

    def _post(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed: the server is shutting down
            pass

    def _work(self) -> None:
        pieces: list[str] = []
        try:
            if self._cancelled.is_set():  # cancelled before it began: nothing generated
                self._post(self._events.put_nowait, Finished(0, 0, None))
                return
            stream = self._stream = self._open()
            if self._cancelled.is_set():  # cancelled while the stream was opening
                stream.cancel()
            try:
                for piece in stream:
                    pieces.append(piece)
                    self._post(self._events.put_nowait, Piece(piece))
            finally:
                stream.close()
            self._on_finish("".join(pieces), stream)
            self._post(self._events.put_nowait, Finished(stream.prompt_tokens, stream.completion_tokens,
                                                         stream.finish_reason))
        except Exception as exc:
            self._post(self._events.put_nowait, Failed(exc))
        finally:
            self._post(self._release)
