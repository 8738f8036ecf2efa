"""The response cache in front of served models: a repeated greedy request is answered from
disk with the same text and usage, without generating; sampled and cut-short answers are not stored."""

from __future__ import annotations

import sys

import httpx
import openai
import pytest

from adaptlab.engine.response_cache import ResponseCache
from adaptlab.serve.cached import with_response_cache
from adaptlab.serve.models import as_served

from helpers import save_random_model
from serve.fakes import SlowModel
from serve.harness import wait_until


class CountingModel:
    """A served model that counts the streams it is asked for."""

    def __init__(self, model):
        self.model = model
        self.context_length = model.context_length
        self.streams = 0

    def completion_prompt(self, prompt):
        return self.model.completion_prompt(prompt)

    def chat_prompt(self, messages):
        return self.model.chat_prompt(messages)

    def count_tokens(self, prompt):
        return self.model.count_tokens(prompt)

    def stream(self, prompt, settings):
        self.streams += 1
        return self.model.stream(prompt, settings)

    def identity(self):
        return self.model.identity()


@pytest.fixture
def cache(tmp_path):
    with ResponseCache(tmp_path / "responses.sqlite3") as opened:
        yield opened


def test_a_repeated_greedy_request_is_answered_from_the_cache(serve, tiny_lm, cache):
    counting = CountingModel(as_served(tiny_lm))
    url = serve(with_response_cache({"tiny": counting}, cache))
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    first, second = (client.completions.create(model="tiny", prompt="Vorantide  is", max_tokens=8, temperature=0)
                     for _ in range(2))
    assert counting.streams == 1 and (cache.hits, cache.misses) == (1, 1)
    assert second.choices[0].text == first.choices[0].text
    assert second.usage == first.usage and second.choices[0].finish_reason == first.choices[0].finish_reason
    streamed = client.completions.create(model="tiny", prompt="Vorantide  is", max_tokens=8, temperature=0,
                                         stream=True)  # the same request, streamed
    assert "".join(c.choices[0].text for c in streamed if c.choices) == first.choices[0].text
    assert counting.streams == 1
    other = client.completions.create(model="tiny", prompt="Vorantide is", max_tokens=8, temperature=0)
    assert counting.streams == 2  # other whitespace, other tokens: the model's own answer, not the cached one
    assert other.choices[0].text == tiny_lm.generate_until([("Vorantide is", {"max_gen_toks": 8, "until": []})])[0]
    client.completions.create(model="tiny", prompt="Vorantide is", max_tokens=6, temperature=0)  # other settings
    client.completions.create(model="tiny", prompt="Vorantide is", max_tokens=8, temperature=1.0, seed=3)  # sampled
    client.completions.create(model="tiny", prompt="Vorantide is", max_tokens=8, temperature=1.0, seed=3)
    assert counting.streams == 5 and len(cache) == 3


def test_an_answer_cut_short_is_not_stored(serve, cache):
    """An answer that would end by itself, cut by the timeout: a 504 and nothing stored; given the time, it is."""
    slow = SlowModel(pieces=3, delay=0.3)
    url = serve(with_response_cache({"slow": slow}, cache), timeout=0.5)
    body = {"model": "slow", "prompt": "go", "max_tokens": 8, "temperature": 0}
    cut = httpx.post(f"{url}/v1/completions", json=body)
    assert cut.status_code == 504 and cut.json()["error"]["code"] == "timeout"
    wait_until(slow.cancelled.is_set, "the timed-out generation cancelled")
    assert len(cache) == 0
    patient = serve(with_response_cache({"slow": SlowModel(pieces=3, delay=0.3)}, cache), timeout=30)
    whole = httpx.post(f"{patient}/v1/completions", json=body)
    assert whole.status_code == 200 and whole.json()["choices"][0]["text"] == "tick tick tick "
    assert len(cache) == 1


def test_a_model_retrained_under_the_same_name_is_not_answered_from_the_cache(serve, tiny_lm, tokenizer_dir,
                                                                             tmp_path, cache):
    from adaptlab.lm import HFCausalLM
    from adaptlab.tokenization.train import load_tokenizer

    body = {"model": "tiny", "prompt": "Vorantide is", "max_tokens": 8, "temperature": 0}
    old = CountingModel(as_served(tiny_lm))
    before = httpx.post(f"{serve(with_response_cache({'tiny': old}, cache))}/v1/completions", json=body).json()
    retrained_lm = HFCausalLM.from_path(save_random_model(load_tokenizer(tokenizer_dir), tmp_path / "tiny",
                                                          layers=2, seed=7))
    retrained = CountingModel(as_served(retrained_lm))
    url = serve(with_response_cache({"tiny": retrained}, cache))
    after = httpx.post(f"{url}/v1/completions", json=body).json()
    expected = retrained_lm.generate_until([("Vorantide is", {"max_gen_toks": 8, "until": []})])[0]
    assert retrained.streams == 1 and after["choices"][0]["text"] == expected != before["choices"][0]["text"]
    httpx.post(f"{url}/v1/completions", json=body)
    assert retrained.streams == 1 and (cache.hits, len(cache)) == (1, 2)  # its own answer is cached in turn
    same = CountingModel(as_served(HFCausalLM.from_path(tmp_path / "tiny")))  # the same folder, loaded again
    httpx.post(f"{serve(with_response_cache({'tiny': same}, cache))}/v1/completions", json=body)
    assert same.streams == 0


def test_a_rag_model_is_keyed_on_its_index(tiny_lm, tmp_path):
    from adaptlab.corpus.documents import Document
    from adaptlab.retrieval.index import open_index, sync_index
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.search import Searcher

    from retrieval.fakes import HashEmbedder

    embedder = HashEmbedder()

    def served_over(*texts: str) -> str:
        sync_index(tmp_path / "index", [Document(f"doc-{i}", t) for i, t in enumerate(texts)], embedder)
        return as_served(RagLM(tiny_lm, Searcher(open_index(tmp_path / "index", embedder), embedder), k=1)).identity()

    first = served_over("Vorantide: 10 mg daily.", "Blolelquor is a solvent.")
    assert served_over("Vorantide: 10 mg daily.", "Blolelquor is a solvent.") == first  # rebuilt, unchanged
    assert served_over("Vorantide: 20 mg daily.", "Blolelquor is a solvent.") != first  # a document changed
    assert served_over("Vorantide: 10 mg daily.") != first  # a document gone


def test_cli_serve_puts_the_cache_in_front_of_every_model(model_dir, tmp_path, monkeypatch):
    import adaptlab.cli
    import adaptlab.serve.server

    started = {}
    monkeypatch.setattr(adaptlab.serve.server, "run_server", lambda models, settings, on_shutdown: started.update(models=models, on_shutdown=on_shutdown))
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"tiny={model_dir}", "--response-cache",
                                      str(tmp_path / "responses.sqlite3"), "--cache-ttl", "60"])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code == 0
    served = started["models"]["tiny"]
    assert served.name == "tiny" and served.cache.ttl_seconds == 60 and served.cache.path.exists()


def test_cli_serve_names_a_response_cache_in_a_missing_folder(model_dir, tmp_path, monkeypatch, capsys):
    import adaptlab.cli

    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"tiny={model_dir}", "--response-cache",
                                      str(tmp_path / "nowhere" / "responses.sqlite3")])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code != 0
    captured = capsys.readouterr()
    line = (captured.err + captured.out).strip()
    assert "nowhere" in line and "does not exist" in line and len(line.splitlines()) == 1
