"""The server's faster decodings (--prefix-cache-mb, --draft) answer exactly as plain `generate` does:
a shared prefix is reused from the cache, the draft really runs, streams and stop strings cut the
same text, a client gone mid-stream stops the steps and frees its slot, and bad flags are one line."""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import torch

import adaptlab.cli
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.lm import HFCausalLM
from adaptlab.serve.decoding import Decodings, Draft, Drafted, PrefixCached
from adaptlab.serve.models import HFModel, as_served

from context_helpers import cli_error
from helpers import save_random_model
from serve.harness import wait_until

SHARED = "The standard dose of Vorantide for adults is given twice daily with water. "  # 44 tokens with EOS
PROMPTS = ["Vorantide is", "Blolelquor"]  # greedy: EOS after 14 tokens; none in 48


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)


@contextmanager
def forwards(modules: list[torch.nn.Module], delay: float = 0.0) -> Iterator[list[int]]:
    """Counts the forward calls of `modules`, each slowed by `delay` seconds, while the block runs."""
    calls: list[int] = []

    def hook(module: torch.nn.Module, args: tuple) -> None:
        calls.append(1)
        time.sleep(delay)

    with ExitStack() as hooks:
        for module in modules:
            hooks.callback(module.register_forward_pre_hook(hook).remove)
        yield calls


@dataclass
class Fast:
    """A served model that decodes step by step; `ran` says whether its own machinery did the work."""

    model: HFModel
    decoders: list[torch.nn.Module]  # the models its steps run
    ran: Callable[[], bool]


@pytest.fixture(params=["prefix cache", "draft"])
def fast(request, tiny_lm) -> Iterator[Fast]:
    if request.param == "prefix cache":
        cached = PrefixCached(tiny_lm, 2**20)
        yield Fast(HFModel(tiny_lm, cached), [tiny_lm.model], lambda: cached.cache.misses + cached.cache.hits > 0)
        return
    draft = request.getfixturevalue("draft_lm")
    drafted = Decodings(draft=Draft(request.getfixturevalue("draft_dir"), draft)).for_model("tiny", tiny_lm)
    with forwards([draft.model]) as calls:
        yield Fast(HFModel(tiny_lm, drafted), [tiny_lm.model, draft.model], lambda: len(calls) > 0)


def test_a_shared_prefix_is_reused_and_answers_are_unchanged(serve, tiny_lm):
    cached = PrefixCached(tiny_lm, 2**20)
    cache = cached.cache
    client = client_for(serve({"cached": HFModel(tiny_lm, cached), "plain": as_served(tiny_lm)}))

    def ask(model: str, prompt: str):
        return client.completions.create(model=model, prompt=prompt, max_tokens=8, temperature=0)

    first = ask("cached", SHARED + "Who makes it?")
    blocks = len(cache)
    assert blocks >= 2 and (cache.hits, cache.misses) == (0, 1)
    embed = tiny_lm.model.get_input_embeddings()
    tokens_run: list[int] = []
    hook = embed.register_forward_hook(lambda module, args, out: tokens_run.append(args[0].numel()))
    try:
        second = ask("cached", SHARED + "What is it?")
    finally:
        hook.remove()
    assert (cache.hits, cache.misses) == (1, 1) and len(cache) >= blocks
    assert sum(tokens_run) < second.usage.prompt_tokens  # the shared blocks did not run again
    for reply, prompt in ((first, SHARED + "Who makes it?"), (second, SHARED + "What is it?")):
        plain = ask("plain", prompt)
        assert reply.choices[0].text == plain.choices[0].text and reply.usage == plain.usage


def test_an_adapter_run_reuses_the_cache_through_its_adapter(adapter_run):
    adapted = HFCausalLM.from_path(adapter_run)
    cached = PrefixCached(adapted, 2**20)
    settings = GenerationSettings(max_new_tokens=8, temperature=0)
    prompt = SHARED + "Who makes it?"
    expected = generate(adapted.model, adapted.tokenizer, [prompt], settings)[0].text
    assert ["".join(cached.stream(prompt, settings)) for _ in range(2)] == [expected, expected]
    assert cached.cache.hits == 1


def test_answers_streams_and_stop_strings_are_plain_generates(serve, tiny_lm, fast):
    client = client_for(serve({"fast": fast.model, "plain": as_served(tiny_lm)}))
    greedy = {"max_tokens": 16, "temperature": 0}
    for prompt in PROMPTS:
        plain = client.completions.create(model="plain", prompt=prompt, **greedy)
        text = plain.choices[0].text
        whole = client.completions.create(model="fast", prompt=prompt, **greedy)
        assert whole.choices[0].text == text and whole.usage == plain.usage
        assert whole.choices[0].finish_reason == plain.choices[0].finish_reason
        chunks = list(client.completions.create(model="fast", prompt=prompt, stream=True,
                                                stream_options={"include_usage": True}, **greedy))
        assert "".join(c.choices[0].text for c in chunks if c.choices) == text and chunks[-1].usage == plain.usage
        stop = text[6:9]
        assert len(stop) == 3
        cut = client.completions.create(model="fast", prompt=prompt, stop=[stop], **greedy)
        assert cut.choices[0].text == text[: text.find(stop)] and cut.choices[0].finish_reason == "stop"
    assert fast.ran()


def test_a_client_gone_mid_stream_stops_the_steps_and_frees_its_slot(serve, tiny_lm, fast, tmp_path):
    url = serve({"fast": fast.model, "plain": as_served(tiny_lm)}, max_concurrency=1, max_queue=1)
    client = client_for(url)
    with forwards(fast.decoders, delay=0.05):  # a whole answer would take seconds
        stream = client.completions.create(model="fast", prompt="Blolelquor", max_tokens=48, temperature=0,
                                           stream=True)  # left alone, it runs all 48 tokens
        assert next(iter(stream)).choices[0].text
        stream.close()
        wait_until(lambda: httpx.get(f"{url}/health").json()["running"] == 0, "the abandoned answer's slot freed")
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        [(tokens, finish_reason)] = db.execute("SELECT completion_tokens, finish_reason FROM completions").fetchall()
    assert finish_reason is None and tokens < 48  # cut short, not run to its end
    assert client.completions.create(model="plain", prompt="Hi", max_tokens=4).usage.completion_tokens > 0


def test_cli_serve_drafts_base_models_and_prefix_caches_the_rest(model_dir, adapter_run, draft_dir, monkeypatch,
                                                                 capsys):
    import adaptlab.serve.server

    started = {}
    monkeypatch.setattr(adaptlab.serve.server, "run_server", lambda models, settings, on_shutdown: started.update(models=models))
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"base={model_dir}", f"legal={adapter_run}",
                                      "--prefix-cache-mb", "1", "--draft", str(draft_dir)])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code == 0
    base, legal = started["models"]["base"].decoding, started["models"]["legal"].decoding
    assert isinstance(base, Drafted) and base.decoder.draft is not base.decoder.target
    assert isinstance(legal, PrefixCached) and legal.cache.budget_bytes == 2**20
    printed = capsys.readouterr().out
    assert "prefix cache (1 MB per model): legal" in printed and f"draft {draft_dir}: base" in printed


@pytest.fixture(scope="module")
def bad_drafts(tokenizer_dir, tmp_path_factory) -> dict[str, Path]:
    """A decoder whose tokenizer has one token more than the served model's, and an encoder."""
    from adaptlab.tokenization.train import load_tokenizer

    root = tmp_path_factory.mktemp("bad-drafts")
    other = load_tokenizer(tokenizer_dir)
    other.add_tokens(["<other>"])
    return {"other-vocab": save_random_model(other, root / "other-vocab", layers=1, seed=2),
            "encoder": save_random_model(load_tokenizer(tokenizer_dir), root / "encoder", layers=1, seed=2,
                                         family="encoder")}


@pytest.mark.parametrize("bad, expected", [
    ("other-vocab", "its tokenizer (401 tokens) is not model 'tiny''s (400 tokens)"),
    ("encoder", "is not a causal language model"),
])
def test_cli_serve_refuses_a_draft_it_cannot_use(bad, expected, bad_drafts, model_dir, monkeypatch, capsys):
    draft = bad_drafts[bad]
    line = cli_error(adaptlab.cli.app, ["serve", f"tiny={model_dir}", "--draft", str(draft)], monkeypatch, capsys)
    assert f"--draft {draft}: " in line and expected in line


def test_cli_serve_refuses_a_negative_prefix_cache(model_dir, monkeypatch, capsys):
    line = cli_error(adaptlab.cli.app, ["serve", f"tiny={model_dir}", "--prefix-cache-mb", "-1"], monkeypatch, capsys)
    assert "--prefix-cache-mb -1: give megabytes" in line
