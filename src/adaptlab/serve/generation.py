"""One generation request through the server, from its body to its answer: stop strings checked,
the prompt built and counted (bounded), its token budget, a slot or a place in the queue, the
worker, and the answer whole or streamed as server-sent events, all within the timeout, cancelled
when the client hangs up, and recorded for feedback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.serve.errors import APIError, log
from adaptlab.serve.jobs import Event, Failed, Finished, Job, Piece, Stream
from adaptlab.serve.limits import check_stops, token_budget
from adaptlab.serve.models import ServedModel
from adaptlab.serve.responses import Chunks, sse
from adaptlab.serve.schemas import GenerationRequest, new_id
from adaptlab.serve.state import ServerState


def as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, UserError):
        return APIError(400, str(exc), "invalid_request")
    log.error("generation failed", exc_info=exc)
    return APIError(500, f"generation failed: {type(exc).__name__}", "internal_error")


async def generate(state: ServerState, request: Request, body: GenerationRequest, served: ServedModel,
                   build_prompt: Callable[[], str], record: dict[str, Any], default_tokens: int, chat: bool) -> Any:
    """The answer to one completion or chat request (a StreamingResponse when it asked to stream)."""
    settings = state.settings
    check_stops(body.stop_strings, settings)

    def prepare() -> tuple[str, int]:
        prompt = build_prompt()
        return prompt, served.count_tokens(prompt)

    try:
        prompt, prompt_tokens = await state.bounded(prepare)
    except UserError as exc:
        raise APIError(400, str(exc), "invalid_request") from None
    max_tokens = token_budget(body.model, served, prompt_tokens, body.requested_tokens, default_tokens, settings,
                              body.token_field)
    gen = GenerationSettings.from_openai(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
                                         stop=body.stop_strings, seed=body.seed)
    chunks = Chunks(chat, new_id("chatcmpl" if chat else "cmpl"), body.model)

    def on_finish(text: str, stream: Stream) -> None:
        if state.store is not None:
            state.store.record(chunks.id, body.model, record, text, stream.prompt_tokens, stream.completion_tokens,
                               stream.finish_reason)

    job = Job(lambda: served.stream(prompt, gen), on_finish)
    state.draining.admit(job)
    streaming = False
    deadline = asyncio.get_running_loop().time() + settings.timeout
    watcher = asyncio.create_task(_cancel_on_disconnect(request, job))
    try:
        first = await _within(state, deadline, job, lambda: _begin(state, job))
        if isinstance(first, Failed):
            raise as_api_error(first.error)
        if body.stream:  # from here on, Starlette notices a disconnect and ends _stream_events
            streaming = True
            return StreamingResponse(_stream_events(state, job, first, deadline, chunks, body.include_usage),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"},
                                     background=BackgroundTask(_end, state, job))
        pieces: list[str] = []
        event: Event = first
        while not isinstance(event, Finished):
            if isinstance(event, Failed):
                raise as_api_error(event.error)
            pieces.append(event.text)
            event = await _within(state, deadline, job, job.next)
        return chunks.whole("".join(pieces), event)
    finally:
        watcher.cancel()
        if not streaming:
            state.draining.dismiss(job)


def _end(state: ServerState, job: Job) -> None:
    job.cancel()
    state.draining.dismiss(job)


async def _cancel_on_disconnect(request: Request, job: Job) -> None:
    """A client that hangs up while queued or waiting for a whole answer stops its generation.
    The body has been read, so the next message is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    job.cancel()


async def _begin(state: ServerState, job: Job) -> Event:
    """A slot (or 429), the job started, and its first event."""
    await state.slots.acquire()
    job.start(state.pool, state.slots.release)
    return await job.next()


async def _within(state: ServerState, deadline: float, job: Job, step: Callable[[], Awaitable[Event]]) -> Event:
    """`step`'s event by the deadline, else 504 (or the server's reason, if it ended the request
    meanwhile); the job is cancelled if its request ends early."""
    if job.interruption is not None:
        raise job.interruption
    try:
        async with asyncio.timeout_at(deadline) as waiting:
            job.waiting = waiting
            return await step()
    except TimeoutError:
        job.cancel()
        raise (job.interruption or _timed_out(state)) from None
    except BaseException:
        job.cancel()
        raise
    finally:
        job.waiting = None


def _timed_out(state: ServerState) -> APIError:
    return APIError(504, f"no complete answer within the server's timeout of {state.settings.timeout:g} s "
                         "(--timeout)", "timeout")


async def _stream_events(state: ServerState, job: Job, first: Event, deadline: float, chunks: Chunks,
                         include_usage: bool) -> AsyncIterator[str]:
    """SSE lines until [DONE]; an error after the first piece is sent as an error event, then [DONE].
    Leaving early (the client disconnected) cancels the generation."""
    try:
        for opening in chunks.opening():
            yield sse(opening)
        event = first
        while True:
            if isinstance(event, Piece):
                yield sse(chunks.piece(event.text))
            elif isinstance(event, Finished):
                for closing in chunks.closing(event, include_usage):
                    yield sse(closing)
                yield sse("[DONE]")
                return
            else:
                yield sse(as_api_error(event.error).body())
                yield sse("[DONE]")
                return
            try:
                event = await _within(state, deadline, job, job.next)
            except APIError as exc:
                yield sse(exc.body())
                yield sse("[DONE]")
                return
    finally:
        _end(state, job)
