"""Bounded concurrency, made deterministic with stand-in models the test releases or that never
end: a full queue gets 429, a client gone mid-stream frees its slot, a timeout gets 504, and
/health answers while every slot is busy."""

from __future__ import annotations


import httpx
import openai
import pytest

from adaptlab.serve.models import as_served

from serve.fakes import EndlessModel, GatedLM
from serve.harness import post_in_thread, wait_until


def test_full_queue_is_429_and_queued_requests_are_served(serve):
    gated = GatedLM()
    url = serve({"gated": as_served(gated)}, max_concurrency=1, max_queue=1)
    health = lambda: httpx.get(f"{url}/health").json()  # noqa: E731
    results: list[httpx.Response] = []
    body = {"model": "gated", "prompt": "Hi"}
    first = post_in_thread(f"{url}/v1/completions", body, results)
    wait_until(lambda: health()["running"] == 1, "one generation running")
    second = post_in_thread(f"{url}/v1/completions", body, results)
    wait_until(lambda: health()["queued"] == 1, "one request queued")
    busy = httpx.post(f"{url}/v1/completions", json=body)
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert "--max-concurrency 1, --max-queue 1" in busy.json()["error"]["message"]
    assert busy.json()["error"]["code"] == "rate_limit_exceeded"
    gated.gate.set()
    first.join()
    second.join()
    assert [r.status_code for r in results] == [200, 200]
    assert all(r.json()["choices"][0]["text"] == "ok" for r in results)


def test_client_gone_mid_stream_frees_its_slot(serve):
    endless = EndlessModel()
    url = serve({"endless": endless, "gated": as_served(released := GatedLM())}, max_concurrency=1, max_queue=1)
    released.gate.set()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    stream = client.chat.completions.create(model="endless", messages=[{"role": "user", "content": "Go"}], stream=True)
    pieces = [next(iter(stream)).choices[0].delta for _ in range(3)]
    assert pieces[0].role == "assistant" and pieces[1].content == "tick "
    stream.close()  # the client hangs up while the model would go on forever
    # With one slot, this request is served only once the abandoned generation has stopped.
    reply = client.completions.create(model="gated", prompt="Hi")
    assert reply.choices[0].text == "ok"
    assert endless.cancelled.is_set()
    assert httpx.get(f"{url}/health").json()["running"] == 0


def test_client_gone_before_a_whole_answer_stops_the_generation(serve):
    endless = EndlessModel()
    url = serve({"endless": endless})
    with pytest.raises(httpx.ReadTimeout):  # the client gives up waiting; the server notices the hang-up
        httpx.post(f"{url}/v1/completions", json={"model": "endless", "prompt": "Hi"}, timeout=0.5)
    wait_until(endless.cancelled.is_set, "the abandoned generation cancelled")
    wait_until(lambda: httpx.get(f"{url}/health").json()["running"] == 0, "its slot freed")


def test_timeout_is_504_and_stops_the_generation(serve):
    endless = EndlessModel()
    url = serve({"endless": endless}, timeout=0.5)
    reply = httpx.post(f"{url}/v1/completions", json={"model": "endless", "prompt": "Hi"})
    assert reply.status_code == 504 and "timeout of 0.5 s" in reply.json()["error"]["message"]
    wait_until(endless.cancelled.is_set, "the timed-out generation cancelled")
    wait_until(lambda: httpx.get(f"{url}/health").json()["running"] == 0, "its slot freed")


def test_a_stream_past_its_timeout_ends_with_an_error_event(serve):
    endless = EndlessModel()
    url = serve({"endless": endless}, timeout=0.5)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    with pytest.raises(openai.APIError, match="timeout of 0.5 s"):
        for _ in client.completions.create(model="endless", prompt="Hi", stream=True):
            pass
    wait_until(endless.cancelled.is_set, "the timed-out generation cancelled")


def test_health_answers_while_every_slot_is_busy(serve):
    gated = GatedLM()
    url = serve({"gated": as_served(gated)}, max_concurrency=1, max_queue=0)
    results: list[httpx.Response] = []
    busy = post_in_thread(f"{url}/v1/completions", {"model": "gated", "prompt": "Hi"}, results)
    wait_until(lambda: httpx.get(f"{url}/health").json()["running"] == 1, "the only slot taken")
    assert httpx.get(f"{url}/health").status_code == 200
    gated.gate.set()
    busy.join()
    assert results[0].status_code == 200
