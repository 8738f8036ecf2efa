"""How the server stops when told to (SIGTERM, Ctrl-C): it stops taking requests, lets the
generations it is running finish for a grace period, then ends the rest with an error, which a
stream sends as an error event before its `[DONE]`. What was served is recorded either way.

uvicorn, told to exit, closes its listening sockets and waits for open connections; the
`GracefulServer` also tells the app's `Draining`, and allows the grace, plus time for the
ended requests to answer, before uvicorn's own cancellation would cut them off.
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import Any

import uvicorn

from adaptlab.serve.errors import APIError
from adaptlab.serve.jobs import Job

ANSWER_SECONDS = 5  # past the grace: for ended requests to send their error and close


class Draining:
    """The app's side of stopping: `request_stop()` (from a signal handler) starts the grace; after it,
    every job still in `jobs` is interrupted."""

    def __init__(self, grace: float):
        self.grace = grace
        self.stopping = False
        self.jobs: set[Job] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def request_stop(self) -> None:
        """Safe from a signal handler: the work happens on the event loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        asyncio.get_running_loop().call_later(self.grace, self._end_the_rest)

    def _end_the_rest(self) -> None:
        error = APIError(503, f"the server is shutting down: this generation was stopped after the "
                              f"{self.grace:g} s grace (--shutdown-grace)", "server_shutting_down")
        for job in list(self.jobs):
            job.interrupt(error)

    def admit(self, job: Job) -> None:
        """Follow `job` until it is dismissed; a 503 once stopping, as no new work is taken."""
        if self.stopping:
            raise APIError(503, "the server is shutting down; send the request to another instance",
                           "server_shutting_down", headers={"Retry-After": "1"})
        self.jobs.add(job)

    def dismiss(self, job: Job) -> None:
        self.jobs.discard(job)


class GracefulServer(uvicorn.Server):
    """uvicorn's server over `app`, which tells `draining` when it is asked to exit and waits for the
    grace, plus time for the requests ended then to answer, before cancelling what is left."""

    def __init__(self, app: Any, draining: Draining, **options: Any):
        super().__init__(uvicorn.Config(app, timeout_graceful_shutdown=draining.grace + ANSWER_SECONDS, **options))
        self.draining = draining

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.draining.request_stop()
