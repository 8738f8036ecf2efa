"""The OpenAI-compatible server under load on loopback, and its answers to bad requests.

What it does
    1. A model to serve: `--model RUN`, else a freshly initialised quickstart-size decoder
       (the 1m preset, 128-token context) with a 2048-token byte-level BPE tokenizer trained
       on the built-in general corpus. Weights do not change the cost of decoding, so an
       untrained model times the server as a trained one would (it rarely says EOS, so
       nearly every request generates all of its max_tokens).
    2. `adaptlab serve` in a subprocess (its own GIL, as in use), with an API key.
    3. Load: `--clients` concurrent clients (httpx, one asyncio loop) for `--seconds`, each
       cycling through a completion, a chat completion and a streamed chat completion of
       `--max-tokens` tokens, sampled. Printed: requests, failures (any status but 200,
       429s counted apart: with the default queue there should be none), p50/p99 latency
       per kind, time to first token of the streams, requests/s and generated tokens/s.
       Halfway through, one more client streams the server's longest answer and hangs up
       after the first piece: the served-completions record shows how many tokens its
       generation made before it stopped, and when its slot was released.
    4. Deliberate cases, one request each: malformed JSON, an unknown model, an oversize
       prompt, max_tokens over the limit, bad and missing auth, an oversize body, too many
       stop strings, a 500,000-character one, a Host header the server does not serve; then a
       burst of `--burst` simultaneous requests past concurrency + queue (the 429s).
    5. SIGTERM while a stream of the server's longest answer runs: how the stream ends (it
       should finish within the grace, with [DONE]), whether it was recorded, and how long
       the process took to exit.

How to read it
    The clients share the machine's cores with the server, as on any one-box deployment;
    latency includes waiting in the server's queue (32 clients, --max-concurrency slots).
    Figures are printed, never asserted.

Usage (from the repo root)
    .venv/bin/python benchmarks/serve.py [--model RUN] [--clients 32] [--seconds 60] [--max-tokens 32]
        [--max-concurrency 4] [--burst 100]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any, Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table

console = Console(width=140)
KEY = "bench-key"
KINDS = ("completion", "chat", "chat-stream")
SERVER_MAX_TOKENS = 96  # the server's --max-tokens: the hung-up stream asks for all of it


def fresh_model(out: Path) -> Path:
    """A freshly initialised quickstart-size decoder and its tokenizer, as one model folder."""
    import torch

    from adaptlab.corpus.builtin import general_english_documents
    from adaptlab.models.presets import ModelConfig, SpecialIds, build_model, count_parameters
    from adaptlab.quickstart import QUICKSTART_MODEL
    from adaptlab.tokenization.train import train_tokenizer

    texts = [d.text for d in general_english_documents()[:300]]
    tokenizer = train_tokenizer(texts, "bpe", 2048, show_progress=False)
    torch.manual_seed(0)
    ids = SpecialIds(pad=tokenizer.pad_token_id, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    model = build_model(ModelConfig(**QUICKSTART_MODEL), len(tokenizer), ids)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    console.print(f"fresh model: {count_parameters(model):,} parameters, context {QUICKSTART_MODEL['max_seq_len']}, "
                  f"{len(tokenizer)} tokens -> {out}", highlight=False)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, workdir: Path, max_concurrency: int, max_queue: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "adaptlab", "serve", f"bench={model}", "--port", str(port),
           "--max-concurrency", str(max_concurrency), "--max-queue", str(max_queue),
           "--max-tokens", str(SERVER_MAX_TOKENS), "--feedback-db", str(workdir / "feedback.sqlite3")]
    log = open(workdir / "server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ADAPTLAB_API_KEY": KEY})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}); see {workdir / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 300 s")


def request_body(kind: str, max_tokens: int, n: int) -> tuple[str, dict[str, Any]]:
    question = f"Request {n}: what does the module do?"
    if kind == "completion":
        return "/v1/completions", {"model": "bench", "prompt": question, "max_tokens": max_tokens, "temperature": 0.8}
    body = {"model": "bench", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0.8}
    if kind == "chat-stream":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return "/v1/chat/completions", body


async def one_request(http: httpx.AsyncClient, kind: str, max_tokens: int, n: int) -> dict[str, Any]:
    path, body = request_body(kind, max_tokens, n)
    started = time.perf_counter()
    first = None
    tokens = 0
    if kind == "chat-stream":
        async with http.stream("POST", path, json=body) as reply:
            status = reply.status_code
            async for line in reply.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if first is None and any(c["delta"].get("content") for c in chunk.get("choices", [])):
                    first = time.perf_counter() - started
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                if "error" in chunk:
                    status = -1
    else:
        reply = await http.post(path, json=body)
        status = reply.status_code
        if status == 200:
            tokens = reply.json()["usage"]["completion_tokens"]
    return {"kind": kind, "status": status, "seconds": time.perf_counter() - started, "first": first, "tokens": tokens}


async def load(url: str, clients: int, seconds: float, max_tokens: int,
               db: Path) -> tuple[list[dict[str, Any]], float, str]:
    results: list[dict[str, Any]] = []
    stop_at = time.perf_counter() + seconds

    async def client(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        while time.perf_counter() < stop_at:
            kind = KINDS[(i + n) % len(KINDS)]
            try:
                results.append(await one_request(http, kind, max_tokens, n))
            except httpx.HTTPError as exc:
                results.append({"kind": kind, "status": type(exc).__name__, "seconds": 0.0, "first": None,
                                "tokens": 0})
            n += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120,
                                 limits=limits) as http:
        started = time.perf_counter()
        *_, hung = await asyncio.gather(*(client(i, http) for i in range(clients)), hang_up(url, db, seconds / 2))
        return results, time.perf_counter() - started, hung


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report_load(results: list[dict[str, Any]], wall: float, clients: int) -> None:
    ok = [r for r in results if r["status"] == 200]
    rejected = sum(r["status"] == 429 for r in results)
    failed = [r for r in results if r["status"] not in (200, 429)]
    tokens = sum(r["tokens"] for r in ok)
    console.print(f"{clients} clients, {wall:.1f} s: {len(results)} requests, {len(failed)} failed (not counting "
                  f"429), {rejected} rejected with 429; {len(ok) / wall:.2f} requests/s, {tokens / wall:.1f} "
                  "generated tokens/s", highlight=False)
    if failed:
        counts = defaultdict(int)
        for r in failed:
            counts[r["status"]] += 1
        console.print(f"failures by status: {dict(counts)}", highlight=False)
    table = Table(title="latency of successful requests (queue wait included)")
    for column in ("kind", "requests", "p50 s", "p99 s", "time to first token p50 s", "tokens/request"):
        table.add_column(column, justify="right")
    for kind in (*KINDS, "all"):
        rows = [r for r in ok if kind in (r["kind"], "all")]
        seconds = [r["seconds"] for r in rows]
        firsts = [r["first"] for r in rows if r["first"] is not None]
        table.add_row(kind, str(len(rows)), f"{percentile(seconds, 0.5):.3f}", f"{percentile(seconds, 0.99):.3f}",
                      f"{percentile(firsts, 0.5):.3f}" if firsts else "-",
                      f"{statistics.fmean(r['tokens'] for r in rows):.1f}" if rows else "-")
    console.print(table)


def deliberate_cases(url: str, max_tokens: int, burst: int) -> None:
    """Each bad request once, then a burst past concurrency plus queue."""
    auth = {"Authorization": f"Bearer {KEY}"}
    cases = {
        "malformed JSON": dict(content=b'{"model": "bench", "prompt": ', headers={**auth,
                                                                               "Content-Type": "application/json"}),
        "unknown model": dict(json={"model": "gpt-4", "prompt": "Hi"}, headers=auth),
        "oversize prompt": dict(json={"model": "bench", "prompt": "word " * 2000, "max_tokens": 4}, headers=auth),
        "max_tokens over the limit": dict(json={"model": "bench", "prompt": "Hi",
                                                "max_tokens": SERVER_MAX_TOKENS + 1}, headers=auth),
        "bad auth": dict(json={"model": "bench", "prompt": "Hi"}, headers={"Authorization": "Bearer wrong"}),
        "no auth": dict(json={"model": "bench", "prompt": "Hi"}),
        "oversize body": dict(json={"model": "bench", "prompt": "x" * 2_000_000}, headers=auth),
        "five stop strings": dict(json={"model": "bench", "prompt": "Hi", "stop": list("abcde")}, headers=auth),
        "a 500,000-character stop string": dict(json={"model": "bench", "prompt": "Hi", "max_tokens": 4,
                                                      "stop": "x" * 500_000}, headers=auth),
        "a Host it does not serve": dict(json={"model": "bench", "prompt": "Hi"},
                                         headers={**auth, "Host": "rebind.attacker.example"}),
    }
    table = Table(title="deliberate bad requests")
    for column in ("case", "status", "message"):
        table.add_column(column)
    for case, kwargs in cases.items():
        reply = httpx.post(f"{url}/v1/completions", timeout=60, **kwargs)
        table.add_row(case, str(reply.status_code), reply.json()["error"]["message"][:100])
    console.print(table)

    async def flood() -> list[int]:
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=120,
                                     limits=httpx.Limits(max_connections=burst)) as http:
            body = {"model": "bench", "prompt": "Hi", "max_tokens": max_tokens}
            replies = await asyncio.gather(*(http.post("/v1/completions", json=body) for _ in range(burst)))
            return [r.status_code for r in replies]

    statuses = asyncio.run(flood())
    console.print(f"burst of {burst} simultaneous requests: {statuses.count(200)} served, {statuses.count(429)} "
                  f"rejected with 429, {len(statuses) - statuses.count(200) - statuses.count(429)} other",
                  highlight=False)


async def hang_up(url: str, db: Path, after: float) -> str:
    """Mid-load, a stream of the server's longest answer whose client leaves after the first piece;
    the served-completions record tells how far generation went and when it stopped."""
    await asyncio.sleep(after)
    body = {"model": "bench", "prompt": "Hi", "max_tokens": SERVER_MAX_TOKENS, "temperature": 0, "stream": True}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as http:
        async with http.stream("POST", "/v1/completions", json=body) as reply:
            async for line in reply.aiter_lines():
                if line.startswith("data: "):
                    completion_id = json.loads(line[6:])["id"]
                    break
    hung_up = time.perf_counter()  # leaving the block closed the connection mid-stream
    while True:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT completion_tokens, finish_reason FROM completions WHERE id = ?",
                               (completion_id,)).fetchone()
        if row is not None:
            break
        await asyncio.sleep(0.005)
    return (f"a client hung up after its first piece, mid-load: its generation stopped after {row[0]} of "
            f"{SERVER_MAX_TOKENS} tokens (finish_reason {row[1]}), slot released "
            f"{(time.perf_counter() - hung_up) * 1000:.0f} ms after the hang-up")


def stop_mid_stream(server: subprocess.Popen, url: str, db: Path) -> str:
    """SIGTERM while a stream of the server's longest answer is running: how the stream ends, whether
    its completion was recorded, and how long the process took to exit."""
    body = {"model": "bench", "prompt": "Hi", "max_tokens": SERVER_MAX_TOKENS, "temperature": 0.8, "stream": True}
    events: list[str] = []
    with httpx.stream("POST", f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=120) as reply:
        lines = (line[6:] for line in reply.iter_lines() if line.startswith("data: "))
        completion_id = json.loads(next(lines))["id"]
        signalled = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        events = list(lines)
    code = server.wait(timeout=120)
    exited = time.perf_counter() - signalled
    finish = [json.loads(e)["choices"][0]["finish_reason"] for e in events[:-1] if '"choices"' in e]
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT completion_tokens, finish_reason FROM completions WHERE id = ?",
                           (completion_id,)).fetchone()
    return (f"SIGTERM mid-stream: {len(events)} more events, the last {events[-1] if events else 'none'!r} "
            f"(finish_reason {finish[-1] if finish else None}); recorded: "
            f"{f'{row[0]} tokens, finish_reason {row[1]}' if row else 'no'}; the process exited "
            f"{exited:.2f} s after the signal (returncode {code})")


def main(
    model: Annotated[Optional[Path], typer.Option(help="A run or model folder (default: a fresh 1m-preset model).")]
    = None,
    clients: int = 32,
    seconds: float = 60.0,
    max_tokens: int = 32,
    max_concurrency: Annotated[int, typer.Option(help="The server's --max-concurrency.")] = 4,
    max_queue: Annotated[int, typer.Option(help="The server's --max-queue.")] = 64,
    burst: Annotated[int, typer.Option(help="Simultaneous requests of the deliberate 429 case.")] = 100,
) -> None:
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = model or fresh_model(workdir / "model")
        port = free_port()
        server = start_server(model_dir, port, workdir, max_concurrency, max_queue)
        url = f"http://127.0.0.1:{port}"
        console.print(f"server: {url}, --max-concurrency {max_concurrency}, --max-queue {max_queue}, "
                      f"{os.cpu_count()} cores on this machine", highlight=False)
        try:
            results, wall, hung = asyncio.run(load(url, clients, seconds, max_tokens, workdir / "feedback.sqlite3"))
            report_load(results, wall, clients)
            console.print(hung, highlight=False)
            deliberate_cases(url, max_tokens, burst)
            console.print(stop_mid_stream(server, url, workdir / "feedback.sqlite3"), highlight=False)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


if __name__ == "__main__":
    typer.run(main)
