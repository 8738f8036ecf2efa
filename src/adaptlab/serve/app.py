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

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adaptlab.serve.access import BearerAuth, TrustedHosts
from adaptlab.serve.errors import install_handlers
from adaptlab.serve.limits import BodyLimit
from adaptlab.serve.models import ServedModel
from adaptlab.serve.routes import root, v1
from adaptlab.serve.settings import ServeSettings
from adaptlab.serve.state import ServerState


def create_app(models: Mapping[str, ServedModel], settings: ServeSettings,
               on_shutdown: Sequence[Callable[[], None]] = ()) -> FastAPI:
    """The app; `adaptlab.serve.registry.load_models` or `adaptlab.serve.models.as_served` make `models`.
    `on_shutdown` (closing the stores the models use) runs once the generations' threads have ended.
    `app.state.draining` is what a server tells when it is asked to stop."""
    state = ServerState(models, settings, on_shutdown)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield
        await state.stop()

    app = FastAPI(title="adaptlab", summary="OpenAI-compatible serving of adaptlab runs", lifespan=lifespan)
    app.state.server, app.state.draining = state, state.draining
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.api_key:
        app.add_middleware(BearerAuth, api_key=settings.api_key)
    trusted = settings.trusted_hosts()
    if trusted is not None:
        app.add_middleware(TrustedHosts, allowed=trusted)  # added last: it runs first
    app.include_router(root)
    app.include_router(v1)
    return app
