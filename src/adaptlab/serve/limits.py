"""What keeps one client from starving the rest: a cap on body size, caps on prompt length,
generation length and stop strings, and a bounded number of generations (and of prompts
being prepared) with a bounded queue behind them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adaptlab.serve.errors import APIError
from adaptlab.serve.models import ServedModel
from adaptlab.serve.settings import ServeSettings


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 before any handler reads it. The body is
    read here and replayed; later receives (a client's disconnect) pass through."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = APIError(413, f"request body over the server's limit of {self.max_bytes} bytes (--max-body-bytes)",
                         "request_too_large")
        await error.response()(scope, receive, send)


class Slots:
    """`concurrency` pieces of work at once and `queue` requests waiting; past that, 429 at once.

    A generation's slot is held until its thread ends, not until its HTTP request does,
    so a timed-out or abandoned generation still counts until it has really stopped.
    `what` names the work in the 429 (generations, prompts being prepared).
    """

    def __init__(self, concurrency: int, queue: int, what: str = "generations running"):
        self.concurrency = concurrency
        self.queue = queue
        self.what = what
        self.running = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(concurrency)

    async def acquire(self) -> None:
        if self.running + self.waiting >= self.concurrency + self.queue:
            raise APIError(429, f"server busy: {self.running} {self.what} and {self.waiting} waiting "
                                f"(--max-concurrency {self.concurrency}, --max-queue {self.queue}); retry later",
                           "rate_limit_exceeded", headers={"Retry-After": "1"})
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._free.release()


def check_stops(stops: Sequence[str], settings: ServeSettings) -> None:
    """A 400 naming the limit when a request gives more stop strings, or longer ones, than the server takes:
    each is matched against the text at every token."""
    if len(stops) > settings.max_stop_sequences:
        raise APIError(400, f"stop: {len(stops)} stop sequences, over the server's limit of "
                            f"{settings.max_stop_sequences} (--max-stop-sequences)", "too_many_stop_sequences",
                       param="stop")
    longest = max(map(len, stops), default=0)
    if longest > settings.max_stop_chars:
        raise APIError(400, f"stop: a stop sequence of {longest} characters, over the server's limit of "
                            f"{settings.max_stop_chars} (--max-stop-chars)", "stop_too_long", param="stop")


def token_budget(name: str, served: ServedModel, prompt_tokens: int, requested: int | None, default: int,
                 settings: ServeSettings, field: str = "max_tokens") -> int:
    """The max_tokens a request gets, or a 400 naming the limit it breaks (`field`: the request's
    name for `requested`)."""
    context = served.context_length
    prompt_limit = settings.max_prompt_tokens or context
    if prompt_limit is not None and prompt_tokens > prompt_limit:
        which = "the server's --max-prompt-tokens" if settings.max_prompt_tokens else f"the context of model {name!r}"
        raise APIError(400, f"prompt is {prompt_tokens} tokens, over the limit of {prompt_limit} ({which})",
                       "prompt_too_long", param="prompt")
    if requested is not None and requested > settings.max_tokens:
        raise APIError(400, f"{field} {requested} is over the server's limit of {settings.max_tokens} "
                            "(--max-tokens)", "max_tokens_too_large", param=field)
    room = None if context is None else context - prompt_tokens
    if room is not None and room < 1:
        raise APIError(400, f"prompt of {prompt_tokens} tokens leaves no room to generate in the context of model "
                            f"{name!r} ({context} tokens)", "context_length_exceeded", param="prompt")
    if requested is not None and room is not None and requested > room:
        raise APIError(400, f"prompt ({prompt_tokens} tokens) plus {field} ({requested}) is over the context of "
                            f"model {name!r} ({context} tokens)", "context_length_exceeded", param=field)
    return requested or min(default, settings.max_tokens, room if room is not None else default)
