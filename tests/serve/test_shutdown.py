"""SIGTERM to a real `run_server` process mid-stream: it stops taking connections, lets running
generations finish within --shutdown-grace, ends the rest with an error event and [DONE] (a 503
for a whole answer), records every completion it served, and closes its stores before it exits."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx

from serve.fake_server import SLOW_PIECES
from serve.harness import wait_until

FAKE_SERVER = Path(__file__).with_name("fake_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answering(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def server_process(tmp_path: Path, grace: float) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(FAKE_SERVER), str(port), str(tmp_path / "feedback.sqlite3"),
                                str(tmp_path / "responses.sqlite3"), str(grace)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answering(url) or process.poll() is not None, "the server answering", seconds=60)
        assert process.poll() is None, process.stderr.read()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def events(lines: Iterator[str]) -> Iterator[str]:
    return (line.removeprefix("data: ") for line in lines if line.startswith("data: "))


def completions(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT model, response, finish_reason FROM completions").fetchall()


def test_a_running_stream_finishes_within_the_grace_and_the_server_then_exits(tmp_path):
    body = {"model": "slow", "messages": [{"role": "user", "content": "go"}], "stream": True, "temperature": 0}
    with server_process(tmp_path, grace=30) as (process, url):
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as reply:
            received = events(reply.iter_lines())
            assert json.loads(next(received))["choices"][0]["delta"]["role"] == "assistant"
            assert json.loads(next(received))["choices"][0]["delta"]["content"] == "tick "
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: not answering(url), "new connections refused")
            rest = list(received)
        assert process.wait(timeout=30) == -signal.SIGTERM
    assert rest[-1] == "[DONE]"
    chunks = [json.loads(event) for event in rest[:-1]]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "tick " * (SLOW_PIECES - 1)
    assert completions(tmp_path / "feedback.sqlite3") == [("slow", "tick " * SLOW_PIECES, "stop")]
    assert not (tmp_path / "responses.sqlite3-wal").exists()  # the cache was closed, not killed
    with closing(sqlite3.connect(tmp_path / "responses.sqlite3")) as cache:
        assert cache.execute("SELECT text FROM responses").fetchall() == [("tick " * SLOW_PIECES,)]


def test_generations_past_the_grace_end_with_an_error_then_done_and_are_recorded(tmp_path):
    with server_process(tmp_path, grace=0.5) as (process, url):
        whole: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: whole.append(httpx.post(
            f"{url}/v1/completions", json={"model": "endless", "prompt": "go"}, timeout=60)))
        waiting.start()
        wait_until(lambda: httpx.get(f"{url}/health").json()["running"] == 1, "the whole answer generating")
        with httpx.stream("POST", f"{url}/v1/completions", json={"model": "endless", "prompt": "go", "stream": True},
                          timeout=60) as reply:
            received = events(reply.iter_lines())
            assert json.loads(next(received))["choices"][0]["text"] == "tick "
            process.send_signal(signal.SIGTERM)
            rest = list(received)
        waiting.join()
        assert process.wait(timeout=30) == -signal.SIGTERM
    assert rest[-1] == "[DONE]"
    error = json.loads(rest[-2])["error"]
    assert error["code"] == "server_shutting_down" and "0.5 s grace (--shutdown-grace)" in error["message"]
    assert whole[0].status_code == 503 and whole[0].json()["error"]["code"] == "server_shutting_down"
    recorded = completions(tmp_path / "feedback.sqlite3")
    assert len(recorded) == 2 and all(r[0] == "endless" and r[1].startswith("tick ") and r[2] is None
                                      for r in recorded)
