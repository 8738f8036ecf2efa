"""`adaptlab rag ...` through its typer app, and its user mistakes through `adaptlab.cli.main`."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from adaptlab import cli
from adaptlab.retrieval.cli import rag_app
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig
from context_helpers import cli_error
from helpers import TINY_TRAIN, tiny_config

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(rag_app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_index_query_eval(tmp_path, small_domain, real_index):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("compound-0000.txt", "gene-0000.txt"):
        shutil.copy(small_domain / "docs" / name, docs / name)
    (docs / "photo.txt").write_bytes(b"\x00\x01")
    out = _ok("index", str(docs), "--out", str(tmp_path / "ix"), "--max-tokens", "64", "--overlap", "8")
    assert "skipped docs/photo.txt: binary" in out and "2 added, 0 updated, 0 deleted, 0 unchanged" in out
    (docs / "gene-0000.txt").unlink()
    out = _ok("index", str(docs), "--out", str(tmp_path / "ix"))
    assert "0 added, 0 updated, 1 deleted, 1 unchanged; 0 chunks embedded" in out

    out = _ok("query", str(real_index), "Zikmina Laboratories", "--k", "2", "--mode", "bm25")
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("1. ") and "docs/compound-0000.txt" in lines[0]
    out = _ok("eval", str(real_index), str(small_domain / "qa_eval.jsonl"))
    for word in ("bm25", "dense", "hybrid", "recall@1", "recall@10", "mrr", "ndcg@10"):
        assert word in out


@pytest.mark.parametrize(("args", "expected"), [
    (["query", "{tmp}/nowhere", "q"], "no index at {tmp}/nowhere; build one with `adaptlab rag index`"),
    (["index", "{tmp}/empty", "--out", "{tmp}/ix"], "no readable documents in {tmp}/empty (accepted: .txt, .md"),
    (["index", "{tmp}/empty", "--out", "{tmp}/ix", "--max-tokens", "999"], "max_tokens=999: must be from 8 to 254"),
    (["eval", "{index}", "{tmp}/labels.jsonl"], "labels.jsonl:1: doc_id 'gene-0999' matches no document"),
    (["eval", "{index}", "{tmp}/labels.jsonl", "--mode", "sparse"], "unknown mode 'sparse'; accepted: bm25"),
    (["query", "{index}", "q", "--mode", "sparse"], "unknown search mode 'sparse'"),
    (["reader-data", "{index}", "{tmp}/labels.jsonl", "--base", "{tmp}", "--out", "{tmp}/r.jsonl"],
     "labels.jsonl:1: a QA pair needs string fields question, answer, doc_id"),
    (["reader-data", "{index}", "{tmp}/labels.jsonl", "--base", "{tmp}", "--out", "{tmp}/empty"],
     "{tmp}/empty: is a folder; give a file path for the reader examples"),
    (["eval", "{index}", "{tmp}/labels.jsonl", "--extractive"], "--extractive: only used with --reader"),
    (["index", "{tmp}/labels.jsonl", "--out", "{tmp}/ix"],
     "labels.jsonl:1: expected a JSON object with a string field 'text'"),
    (["index", "{tmp}/empty", "--out", "{tmp}/ix", "--max-tokens", "0"], "max_tokens=0: must be from 8 to 254"),
    (["query", "{index}", "  "], "question '  ' is empty"),
    (["ask", "{index}", "{tmp}", ""], "question '' is empty"),
    (["eval", "{index}", "{tmp}/labels.jsonl", "--reader", "{tmp}/nowhere"],  # before retrieval fails on gene-0999
     "{tmp}/nowhere: no such run or model folder"),
])
def test_user_mistakes_are_one_line_and_exit_code_2(monkeypatch, capsys, tmp_path, real_index, args, expected):
    (tmp_path / "empty").mkdir()
    (tmp_path / "labels.jsonl").write_text('{"question": "q", "doc_id": "gene-0999"}\n')
    before = sorted(tmp_path.rglob("*"))
    fill = {"tmp": str(tmp_path), "index": str(real_index)}
    line = cli_error(cli.app, ["rag", *(a.format(**fill) for a in args)], monkeypatch, capsys)
    assert expected.format(**fill) in line
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, no .tmp left behind


def test_reader_recipe_ask_and_exact_match(tmp_path, shards_dir, small_domain, real_index):
    base = tmp_path / "base"
    pretrain(tiny_config(shards_dir, base, steps=2, model={"max_seq_len": 1024}), progress=False)
    data = tmp_path / "reader.jsonl"
    out = _ok("reader-data", str(real_index), str(small_domain / "qa_train.jsonl"), "--base", str(base),
              "--out", str(data))
    examples = [json.loads(line) for line in data.read_text().splitlines()]
    assert f"{len(examples)} reader examples" in out and len(examples) > 50
    assert all(e["response"] in e["prompt"] and e["prompt"].endswith("Answer:") for e in examples)
    practice = tmp_path / "practice.jsonl"
    _ok("reader-data", str(real_index), str(small_domain / "qa_train.jsonl"), "--base", str(base),
        "--out", str(practice), "--practice-domains", "1")
    more = [json.loads(line) for line in practice.read_text().splitlines()]
    assert more[: len(examples)] == examples and len(more) > len(examples)  # the domain's own, then practice
    assert all(e["response"] in e["prompt"] for e in more)
    reader = tmp_path / "reader"
    pretrain(PretrainConfig(out=reader, base=base, sft={"train_file": data},
                            train={**TINY_TRAIN, "steps": 2, "seq_len": 512, "eval_every": 2}), progress=False)
    out = _ok("ask", str(real_index), str(reader), "Who holds the development rights to Blolelquor?")
    citations = out.strip().splitlines()[-1]
    assert citations.startswith("citations: ") and "docs/compound-0000.txt" in citations
    out = _ok("eval", str(real_index), str(small_domain / "qa_eval.jsonl"), "--mode", "hybrid", "--reader",
              str(reader))
    assert "exact match on" in out and "RAG" in out and "without retrieval" in out
    out = _ok("eval", str(real_index), str(small_domain / "qa_eval.jsonl"), "--mode", "bm25", "--reader",
              str(reader), "--extractive", "--k", "1")
    assert "extractive RAG" in out
    out = _ok("ask", str(real_index), str(reader), "Who holds the development rights to Blolelquor?", "--extractive")
    assert out.strip().splitlines()[-1] == citations


def test_extractive_reader_recipe_through_the_cli(monkeypatch, capsys, tmp_path, shards_dir, small_domain, real_index):
    """An encoder base: reader data sized by its context, `finetune --sft` makes it an extractive reader,
    which `rag eval` and `rag ask` load as such; without passages it has nothing to point at."""
    base = tmp_path / "encoder"
    pretrain(tiny_config(shards_dir, base, family="encoder", steps=2, model={"max_seq_len": 512}), progress=False)
    data = tmp_path / "reader.jsonl"
    _ok("reader-data", str(real_index), str(small_domain / "qa_train.jsonl"), "--base", str(base), "--out", str(data))
    reader = tmp_path / "reader"
    result = CliRunner().invoke(cli.app, ["finetune", "--base", str(base), "--sft", str(data), "--out", str(reader),
                                          "--steps", "2", "--eval-every", "2", "--seq-len", "512", "--batch-size", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "val_loss" in result.output and "perplexity" not in result.output
    out = _ok("eval", str(real_index), str(small_domain / "qa_eval.jsonl"), "--mode", "hybrid", "--reader", str(reader))
    assert "exact match on" in out and out.strip().endswith("without retrieval 0.000")
    out = _ok("ask", str(real_index), str(reader), "Who holds the development rights to Blolelquor?")
    answer, citations = out.strip().splitlines()[-2:]
    assert citations.startswith("citations: ") and "docs/compound-0000.txt" in citations
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "Alpha is 10 mg.\n\nQuestion: What is Alpha?\nAnswer:", "response": "7 mg"})
                   + "\n" + json.dumps({"prompt": "Beta is 2 mg. Question: Beta?", "response": "2 mg"}) + "\n")
    line = cli_error(cli.app, ["finetune", "--base", str(base), "--sft", str(bad), "--out", str(tmp_path / "x"),
                               "--steps", "1"], monkeypatch, capsys)
    assert f"{bad}: response '7 mg' is not written in its prompt" in line
    assert not (tmp_path / "x" / "model").exists()
