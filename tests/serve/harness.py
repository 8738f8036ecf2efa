"""A real uvicorn server on a free loopback port, run in a thread, a request posted from a
thread of its own, and a bounded wait for a state the server reaches on its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free 127.0.0.1 port, in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Poll for a state the server reaches on its own (not a timing assertion: only a bound on a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.01)


def post_in_thread(url: str, body: dict, results: list) -> threading.Thread:
    """POST `body` to `url` on a thread (the response is appended to `results`), so the test can go on meanwhile."""
    import httpx

    thread = threading.Thread(target=lambda: results.append(httpx.post(url, json=body, timeout=60)))
    thread.start()
    return thread
