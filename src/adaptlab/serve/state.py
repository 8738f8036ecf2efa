"""What one running app holds: the served models and settings, the feedback store, the shutdown
state, and the bounded workers (generation slots, prompt-preparation slots, the generation threads),
which exist from start-up to shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from adaptlab.serve.errors import APIError, log
from adaptlab.serve.feedback import FeedbackStore
from adaptlab.serve.limits import Slots
from adaptlab.serve.models import ServedModel
from adaptlab.serve.schemas import now
from adaptlab.serve.settings import ServeSettings
from adaptlab.serve.shutdown import Draining

WORKERS_SECONDS = 10  # at shutdown, how long to wait for cancelled generations' threads to end
T = TypeVar("T")


class ServerState:
    """The app's state (`app.state.server`); `start` and `stop` bracket its lifespan."""

    def __init__(self, models: Mapping[str, ServedModel], settings: ServeSettings,
                 on_shutdown: Sequence[Callable[[], None]] = ()):
        self.models, self.settings = models, settings
        self.store = FeedbackStore(settings.feedback_db, keep_days=settings.record_days,
                                   max_rows=settings.record_max_rows) if settings.record else None
        self.draining = Draining(settings.shutdown_grace)
        self.started = now()
        self.on_shutdown = on_shutdown
        self.slots: Slots
        self.prep: Slots
        self.pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """On the server's event loop, before the first request."""
        concurrency, queue = self.settings.max_concurrency, self.settings.max_queue
        self.slots = Slots(concurrency, queue)
        self.prep = Slots(concurrency, queue, "requests being prepared")
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="generate")
        self.draining.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """What uvicorn cut off is cancelled (and recorded as it ends); then the stores close."""
        for job in list(self.draining.jobs):
            job.cancel()
        if self.pool is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self.pool.shutdown, wait=True, cancel_futures=True),
                                       WORKERS_SECONDS)
            except TimeoutError:
                log.warning("generations still running after %d s; closing anyway", WORKERS_SECONDS)
        for close in self.on_shutdown:
            close()

    def lookup(self, name: str) -> ServedModel:
        if name not in self.models:
            raise APIError(404, f"model {name!r} not found; available: {', '.join(self.models)}", "model_not_found",
                           param="model")
        return self.models[name]

    async def bounded(self, work: Callable[[], T]) -> T:
        """`work` on a thread, among at most --max-concurrency such at once (a 1 MB body takes a while to
        template and tokenise); past them and their queue, 429."""
        await self.prep.acquire()
        try:
            return await run_in_threadpool(work)
        finally:
            self.prep.release()
