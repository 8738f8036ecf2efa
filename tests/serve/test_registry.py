"""Which models a server offers: names from the command line, adapter runs as models of their
own, RAG over a reader, and one-line errors before anything loads."""

from __future__ import annotations

import sys

import openai
import pytest

import adaptlab.cli
from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.retrieval.chunking import Chunk
from adaptlab.retrieval.rag import RagLM
from adaptlab.retrieval.search import Hit
from adaptlab.serve.models import HFModel, RagModel, as_served
from adaptlab.serve.registry import load_models, parse_rag, parse_run

from context_helpers import cli_error


def test_run_specs_name_models(tmp_path):
    assert parse_run("pharma=runs/pharma-1m").name == "pharma"
    assert parse_run("runs/pharma-1m/").name == "pharma-1m"
    with pytest.raises(UserError, match="model name 'bad name' must be"):
        parse_run("bad name=runs/x")


def test_rag_specs_need_name_index_and_reader():
    spec = parse_rag("pharma-rag=data/index:reader")
    assert (spec.name, spec.index.as_posix(), spec.reader) == ("pharma-rag", "data/index", "reader")
    for bad in ("data/index:reader", "name=data/index", "name=:reader"):
        with pytest.raises(UserError, match="expected NAME=INDEX:READER"):
            parse_rag(bad)


def test_folders_are_checked_before_anything_loads(model_dir, tmp_path):
    with pytest.raises(UserError, match="no such run or model folder"):
        load_models([f"a={model_dir}", f"b={tmp_path / 'missing'}"])
    with pytest.raises(UserError, match="given twice"):
        load_models([f"a={model_dir}", f"a={model_dir}"])
    with pytest.raises(UserError, match="no index at"):
        load_models([f"reader={model_dir}"], [f"rag={tmp_path}:reader"])
    with pytest.raises(UserError, match="name at least one model"):
        load_models([])


def test_an_adapter_run_is_a_model_of_its_own(serve, model_dir, adapter_run, tiny_lm):
    models = load_models([f"base={model_dir}", str(adapter_run)])
    assert list(models) == ["base", "legal-run"] and all(isinstance(m, HFModel) for m in models.values())
    client = openai.OpenAI(base_url=f"{serve(models)}/v1", api_key="none", max_retries=0)
    answers = {name: client.completions.create(model=name, prompt="Dose of", max_tokens=8, temperature=0)
               .choices[0].text for name in models}
    adapted = HFCausalLM.from_path(adapter_run)
    gen = {"max_gen_toks": 8, "until": []}
    assert answers["base"] == tiny_lm.generate_until([("Dose of", gen)])[0]
    assert answers["legal-run"] == adapted.generate_until([("Dose of", gen)])[0]
    assert answers["legal-run"] != answers["base"]


class FixedSearcher:
    def __init__(self, hits: list[Hit]):
        self.hits = hits

    def search(self, queries, k=10, mode="hybrid"):
        return [self.hits[:k] for _ in queries]


def test_rag_answers_from_fitted_passages(serve, tiny_lm):
    hits = [Hit(Chunk("doc-1", 0, 0, 20, "Vorantide: 10 mg."), 1.0), Hit(Chunk("doc-2", 0, 0, 20, "Blolelquor."), 0.5)]
    rag = RagLM(tiny_lm, FixedSearcher(hits), k=2)
    served = as_served(rag)
    assert isinstance(served, RagModel)
    client = openai.OpenAI(base_url=f"{serve({'rag': served})}/v1", api_key="none", max_retries=0)
    question = "Dose of Vorantide?"
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}],
                                           max_tokens=6, temperature=0)
    prompt, used = rag.fit_prompt(hits, question, 6)
    assert used and "[doc-1] Vorantide: 10 mg." in prompt
    assert reply.choices[0].message.content == rag.generate_until([(question, {"max_gen_toks": 6,
                                                                               "until": ["\n"]})])[0]
    assert reply.usage.prompt_tokens == 1 + len(tiny_lm.encode(prompt))


def test_cli_serve_bad_folder_is_one_line(tmp_path, monkeypatch, capsys):
    line = cli_error(adaptlab.cli.app, ["serve", str(tmp_path / "nope")], monkeypatch, capsys)
    assert "nope: no such run or model folder" in line
    line = cli_error(adaptlab.cli.app, ["serve", "x=y", "--max-queue", "-1"], monkeypatch, capsys)
    assert "max_queue" in line


def test_cli_serve_broken_run_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "yaml").mkdir()
    (tmp_path / "yaml" / "adaptlab.yaml").write_text("kind: [hf\n")
    line = cli_error(adaptlab.cli.app, ["serve", str(tmp_path / "yaml")], monkeypatch, capsys)
    assert f"{tmp_path}/yaml/adaptlab.yaml: not valid YAML" in line
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text("{}")
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"\x00" * 64)
    line = cli_error(adaptlab.cli.app, ["serve", str(tmp_path / "weights")], monkeypatch, capsys)
    assert f"{tmp_path}/weights/model.safetensors: not a readable safetensors file" in line


def test_cli_serve_on_a_port_in_use_is_one_line_and_opens_nothing(tmp_path, monkeypatch, capsys):
    import socket

    feedback = tmp_path / "feedback.sqlite3"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = cli_error(adaptlab.cli.app, ["serve", str(tmp_path / "any-run"), "--port", str(port),
                                            "--feedback-db", str(feedback)], monkeypatch, capsys)
    assert f"127.0.0.1:{port}: cannot listen there" in line and "choose another --port" in line
    assert list(tmp_path.iterdir()) == []  # no feedback database, nothing loaded


def test_cli_serve_hands_models_and_settings_to_the_server(model_dir, monkeypatch, capsys):
    import adaptlab.serve.server

    started = {}
    monkeypatch.setattr(adaptlab.serve.server, "run_server", lambda models, settings, on_shutdown: started.update(
        models=models, settings=settings))
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"tiny={model_dir}", "--port", "8123",
                                      "--max-concurrency", "2", "--timeout", "5"])
    monkeypatch.setenv("ADAPTLAB_API_KEY", "from-env")
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code == 0
    assert list(started["models"]) == ["tiny"]
    settings = started["settings"]
    assert (settings.port, settings.max_concurrency, settings.timeout, settings.api_key) == (8123, 2, 5.0, "from-env")
    assert "serving tiny at http://127.0.0.1:8123/v1" in capsys.readouterr().out
