"""The OpenAI-compatible app over named served models.

`/v1/models`, `/v1/completions` and `/v1/chat/completions` (streamed as server-sent events
when asked: `data: {chunk}` lines, then `data: [DONE]`, which also follows an error event),
`/v1/feedback`, and `/health` (no auth, always answered: generation never runs on the event loop).

A generation request goes: model lookup (404), stop strings checked (400 past the limits),
prompt built and counted on a bounded number of threads (429 when those and their queue are
full; 400 over a limit), a slot or a place in the queue (429 when both are full), then the
worker. The timeout covers the queue and the generation alike (504); a stream answers with
its status only once the first piece is there, so a failure before any text still gets its
code. Once the server is told to stop (`serve.shutdown`), new requests get 503 and those still
running past the grace end with one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.serve.access import BearerAuth, TrustedHosts
from adaptlab.serve.errors import APIError, install_handlers, log
from adaptlab.serve.feedback import FeedbackStore
from adaptlab.serve.jobs import Event, Failed, Finished, Job, Piece, Stream
from adaptlab.serve.limits import BodyLimit, Slots, check_stops, token_budget
from adaptlab.serve.models import ServedModel
from adaptlab.serve.responses import Chunks, sse
from adaptlab.serve.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    FeedbackRequest,
    GenerationRequest,
    ModelCard,
    ModelList,
    new_id,
    now,
)
from adaptlab.serve.settings import ServeSettings
from adaptlab.serve.shutdown import Draining

COMPLETION_DEFAULT_TOKENS = 16  # OpenAI's default max_tokens for /v1/completions
WORKERS_SECONDS = 10  # at shutdown, how long to wait for cancelled generations' threads to end
T = TypeVar("T")


def as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, UserError):
        return APIError(400, str(exc), "invalid_request")
    log.error("generation failed", exc_info=exc)
    return APIError(500, f"generation failed: {type(exc).__name__}", "internal_error")


def generation_settings(body: GenerationRequest, max_tokens: int) -> GenerationSettings:
    top_p = None if body.top_p in (None, 1) else body.top_p
    temperature = 1.0 if body.temperature is None else body.temperature
    return GenerationSettings(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p,
                              stop=body.stop_strings, seed=body.seed)


def create_app(models: Mapping[str, ServedModel], settings: ServeSettings,
               on_shutdown: Sequence[Callable[[], None]] = ()) -> FastAPI:
    """The app; `adaptlab.serve.registry.load_models` or `adaptlab.serve.models.as_served` make `models`.
    `on_shutdown` (closing the stores the models use) runs once the generations' threads have ended.
    `app.state.draining` is what a server tells when it is asked to stop."""
    store = FeedbackStore(settings.feedback_db, keep_days=settings.record_days,
                          max_rows=settings.record_max_rows) if settings.record else None
    draining = Draining(settings.shutdown_grace)
    started = now()
    workers: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers["slots"] = Slots(settings.max_concurrency, settings.max_queue)
        workers["prep"] = Slots(settings.max_concurrency, settings.max_queue, "requests being prepared")
        workers["pool"] = pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="generate")
        draining.loop = asyncio.get_running_loop()
        yield
        for job in list(draining.jobs):  # what uvicorn cut off is cancelled; it is recorded as it ends
            job.cancel()
        try:
            await asyncio.wait_for(asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True), WORKERS_SECONDS)
        except TimeoutError:
            log.warning("generations still running after %d s; closing anyway", WORKERS_SECONDS)
        for close in on_shutdown:
            close()

    app = FastAPI(title="adaptlab", summary="OpenAI-compatible serving of adaptlab runs", lifespan=lifespan)
    app.state.draining = draining
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.api_key:
        app.add_middleware(BearerAuth, api_key=settings.api_key)
    trusted = settings.trusted_hosts()
    if trusted is not None:
        app.add_middleware(TrustedHosts, allowed=trusted)  # added last: it runs first
    v1 = APIRouter(prefix="/v1")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        slots: Slots = workers["slots"]
        return {"status": "stopping" if draining.stopping else "ok", "models": list(models),
                "running": slots.running, "queued": slots.waiting, "preparing": workers["prep"].running}

    @v1.get("/models")
    async def list_models() -> ModelList:
        return ModelList(data=[ModelCard(id=name, created=started) for name in models])

    @v1.get("/models/{name}")
    async def get_model(name: str) -> ModelCard:
        lookup(name)
        return ModelCard(id=name, created=started)

    @v1.post("/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        served = lookup(body.model)
        return await generate(request, body, served, lambda: served.completion_prompt(body.text),
                              {"prompt": body.text}, COMPLETION_DEFAULT_TOKENS, chat=False)

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        served = lookup(body.model)
        messages = [m.as_dict() for m in body.messages]
        return await generate(request, body, served, lambda: served.chat_prompt(messages), {"messages": messages},
                              settings.max_tokens, chat=True)

    @v1.post("/feedback")
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        if store is None:
            raise APIError(404, "this server records no completions (it was started with --no-record), so it takes "
                                "no feedback", "feedback_not_recorded")
        if body.preferred is not None and len(body.preferred) > settings.max_feedback_chars:
            raise APIError(400, f"preferred: {len(body.preferred)} characters, over the server's limit of "
                                f"{settings.max_feedback_chars} (--max-feedback-chars)", "preferred_too_long",
                           param="preferred")
        row = await bounded(lambda: store.add_feedback(body.id, body.rating, body.preferred))
        if row is None:
            raise APIError(404, f"no completion with id {body.id!r} was served here", "completion_not_found",
                           param="id")
        return {"id": row, "object": "feedback", "completion_id": body.id, "rating": body.rating,
                "preferred": body.preferred}

    app.include_router(v1)

    def lookup(name: str) -> ServedModel:
        if name not in models:
            raise APIError(404, f"model {name!r} not found; available: {', '.join(models)}", "model_not_found",
                           param="model")
        return models[name]

    async def bounded(work: Callable[[], T]) -> T:
        """`work` on a thread, among at most --max-concurrency such at once (a 1 MB body takes a while to
        template and tokenise); past them and their queue, 429."""
        prep: Slots = workers["prep"]
        await prep.acquire()
        try:
            return await run_in_threadpool(work)
        finally:
            prep.release()

    async def generate(request: Request, body: GenerationRequest, served: ServedModel,
                       build_prompt: Callable[[], str], record: dict[str, Any], default_tokens: int,
                       chat: bool) -> Any:
        check_stops(body.stop_strings, settings)

        def prepare() -> tuple[str, int]:
            prompt = build_prompt()
            return prompt, served.count_tokens(prompt)

        try:
            prompt, prompt_tokens = await bounded(prepare)
        except UserError as exc:
            raise APIError(400, str(exc), "invalid_request") from None
        max_tokens = token_budget(body.model, served, prompt_tokens, body.requested_tokens, default_tokens, settings,
                                  body.token_field)
        gen = generation_settings(body, max_tokens)
        chunks = Chunks(chat, new_id("chatcmpl" if chat else "cmpl"), body.model)

        def on_finish(text: str, stream: Stream) -> None:
            if store is not None:
                store.record(chunks.id, body.model, record, text, stream.prompt_tokens, stream.completion_tokens,
                             stream.finish_reason)

        job = Job(lambda: served.stream(prompt, gen), on_finish)
        draining.admit(job)
        streaming = False
        deadline = asyncio.get_running_loop().time() + settings.timeout
        watcher = asyncio.create_task(cancel_on_disconnect(request, job))
        try:
            first = await within(deadline, job, lambda: begin(job))
            if isinstance(first, Failed):
                raise as_api_error(first.error)
            if body.stream:  # from here on, Starlette notices a disconnect and ends stream_events
                streaming = True
                return StreamingResponse(stream_events(job, first, deadline, chunks, body.include_usage),
                                         media_type="text/event-stream", headers={"Cache-Control": "no-cache"},
                                         background=BackgroundTask(end, job))
            pieces: list[str] = []
            event: Event = first
            while not isinstance(event, Finished):
                if isinstance(event, Failed):
                    raise as_api_error(event.error)
                pieces.append(event.text)
                event = await within(deadline, job, job.next)
            return chunks.whole("".join(pieces), event)
        finally:
            watcher.cancel()
            if not streaming:
                draining.dismiss(job)

    def end(job: Job) -> None:
        job.cancel()
        draining.dismiss(job)

    async def cancel_on_disconnect(request: Request, job: Job) -> None:
        """A client that hangs up while queued or waiting for a whole answer stops its generation.
        The body has been read, so the next message is the disconnect."""
        while (await request.receive())["type"] != "http.disconnect":
            pass
        job.cancel()

    async def begin(job: Job) -> Event:
        """A slot (or 429), the job started, and its first event."""
        slots: Slots = workers["slots"]
        await slots.acquire()
        job.start(workers["pool"], slots.release)
        return await job.next()

    async def within(deadline: float, job: Job, step: Callable[[], Awaitable[Event]]) -> Event:
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
            raise (job.interruption or timed_out()) from None
        except BaseException:
            job.cancel()
            raise
        finally:
            job.waiting = None

    def timed_out() -> APIError:
        return APIError(504, f"no complete answer within the server's timeout of {settings.timeout:g} s (--timeout)",
                        "timeout")

    async def stream_events(job: Job, first: Event, deadline: float, chunks: Chunks,
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
                    event = await within(deadline, job, job.next)
                except APIError as exc:
                    yield sse(exc.body())
                    yield sse("[DONE]")
                    return
        finally:
            end(job)

    return app
