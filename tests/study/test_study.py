"""A whole study, for real and tiny: a base pretrained here, the synthetic domain, every
default method built, measured and reported (RAG read by the built-in extractive reader).
Figures are meaningless at this size; what is checked is that each method is what it says
(its prompt, its trainable share, its artifact)."""

from __future__ import annotations

import json
import shutil

import pytest
from rich.console import Console
from typer.testing import CliRunner

from adaptlab import registry
from adaptlab.errors import UserError
from adaptlab.study.builtin import builtin_model
from adaptlab.study.config import DOMAIN_FILES, load_study
from adaptlab.study.runner import run_study
from adaptlab.study.strategies import DEFAULT_STRATEGIES

TRAINED = ("continued_pretraining", "lora", "bottleneck", "prefix", "sft", "domain_tokens_lora")
# every registered method the default study leaves out runs too, as a strategy named after it
MORE = [name for name in registry.methods() if name not in {method for _, method, _ in DEFAULT_STRATEGIES}]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    tiny = {"steps": 4, "batch_size": 4, "seq_len": 128}
    strategies = "\n".join(f"  - {json.dumps({'name': name, 'method': method, 'settings': {**settings, **tiny}})}"
                           if name in TRAINED else f"  - {json.dumps({'name': name, 'method': method})}"
                           for name, method, settings in DEFAULT_STRATEGIES)
    strategies += "".join(f"\n  - {json.dumps({'name': name, 'method': name, 'settings': tiny})}" for name in MORE)
    (root / "study.yaml").write_text(f"""
base: {{train: {{steps: 20, seq_len: 256}}}}
domain: {{synthetic: {{seed: 3, compounds: 8}}}}
eval: {{questions: 4, instructions: 2, latency_requests: 2, bpb_documents: 2}}
strategies:
{strategies}
""")
    config, settings = load_study(root / "study.yaml")
    results = run_study(config, settings, root / "out", Console(file=open(root / "log", "w")))
    return root / "out", {r["name"]: r for r in results}


def test_every_default_method_is_built_measured_and_reported(study):
    out, results = study
    failed = {name: r["error"] for name, r in results.items() if r["status"] != "done"}
    assert not failed
    for name, r in results.items():
        m = r["measures"]
        assert 0 <= m["knowledge_em"] <= 1 and 0 <= m["format_compliance"] <= 1 and 0 <= m["content_accuracy"] <= 1
        assert m["latency_p50_s"] > 0
        if name == "rag":  # read by an encoder: no decoder's bits per byte to report
            assert m["domain_bpb"] is None and m["general_bpb"] is None
        else:
            assert m["domain_bpb"] > 0 and m["general_bpb"] > 0
        assert m["peak_memory_mb"] is None or m["peak_memory_mb"] > 100
    md = (out / "report.md").read_text()
    assert all(f"| {name} " in md for name in results)
    assert 'id="leaderboard"' in (out / "report.html").read_text()


def test_each_method_is_what_it_says(study):
    _, results = study
    m = {name: r["measures"] for name, r in results.items()}
    prompt = {name: x["prompt_tokens_per_request"] for name, x in m.items()}
    assert prompt["few_shot"] > prompt["zero_shot"] and prompt["rag"] > prompt["zero_shot"]  # examples, passages
    for untrained in ("zero_shot", "few_shot", "rag"):
        assert m[untrained]["train_seconds"] == 0 and m[untrained]["trainable_parameters"] == 0
    assert m["few_shot"]["domain_bpb"] == m["zero_shot"]["domain_bpb"]  # no weights changed
    # the reader is a model of its own: its weights ship with the index, and it is all RAG runs on
    assert m["rag"]["artifact_bytes"] > 3e6 and m["rag"]["total_parameters"] != m["zero_shot"]["total_parameters"]
    assert results["rag"]["notes"] == ["read by the built-in extractive reader"]
    total = m["zero_shot"]["total_parameters"]
    assert m["continued_pretraining"]["trainable_parameters"] == total
    for adapter in ("lora", "bottleneck", "prefix", "domain_tokens_lora"):
        assert 0 < m[adapter]["trainable_parameters"] < total / 5
    for adapter in ("lora", "bottleneck", "prefix"):  # the adapter alone ships
        assert m[adapter]["artifact_bytes"] < m["continued_pretraining"]["artifact_bytes"] / 5
    # new tokens resize the embeddings: the extended base ships beside its adapter
    assert m["domain_tokens_lora"]["artifact_bytes"] > m["continued_pretraining"]["artifact_bytes"]
    assert m["continued_pretraining"]["domain_bpb"] != m["zero_shot"]["domain_bpb"]
    assert m["rag_sft"]["train_seconds"] == m["sft"]["train_seconds"]  # the SFT's training is its cost too
    assert results["rag_sft"]["run"] == results["sft"]["run"]
    # both models answer: the SFT model writes, the reader reads (knowledge as RAG's, same reader)
    assert m["rag_sft"]["total_parameters"] == m["sft"]["total_parameters"] + m["rag"]["total_parameters"]
    assert m["rag_sft"]["knowledge_em"] == m["rag"]["knowledge_em"]
    assert all(len(results[name]["loss_curve"]) > 0 for name in TRAINED)
    assert "domain tokens added" in results["domain_tokens_lora"]["notes"][0]


def test_every_registered_method_runs_as_a_strategy(study):
    _, results = study
    assert MORE  # the default study does not already hold every method
    by_method = {r["method"]: r for r in results.values()}
    total = results["zero_shot"]["measures"]["total_parameters"]
    for name, method in registry.methods().items():
        measures = by_method[name]["measures"]
        assert by_method[name]["status"] == "done" and measures["train_seconds"] > 0
        assert measures["domain_bpb"] != results["zero_shot"]["measures"]["domain_bpb"]  # its training took effect
        if method.frozen_base:
            assert 0 < measures["trainable_parameters"] < total / 5
            assert measures["artifact_bytes"] < by_method["full"]["measures"]["artifact_bytes"] / 5
        else:
            assert measures["trainable_parameters"] == total


@pytest.mark.parametrize("strategy, options", [
    ("few_shot", ["--template", "few_shot", "--examples", "{examples}", "--k", "2", "--select", "similar"]),
    ("rag", ["--rag", "{index}", "--k", "3", "--sentences", "3", "--extractive"]),
])
def test_adaptlab_eval_scores_a_strategys_system_as_the_study_did(study, strategy, options, tmp_path):
    """The same system built by hand on the command line answers the study's questions alike: the
    same answers, the same exact match and format compliance (one implementation of each task)."""
    import adaptlab.cli
    from adaptlab.evaluation.tasks import read_instructions, read_qa

    out, results = study
    workspace = out / "workspace"
    base = next(workspace.glob("base-*")) / "run"
    domain = next(p for p in workspace.glob("domain-*") if (p / "synth.json").is_file())
    qa, instructions = tmp_path / "qa.jsonl", tmp_path / "instructions.jsonl"  # the study's eval: the first 4 and 2
    qa.write_text("".join(json.dumps(r) + "\n" for r in read_qa(domain / "qa_eval.jsonl")[:4]))
    instructions.write_text("".join(json.dumps(r) + "\n" for r in read_instructions(
        domain / "instructions_eval.jsonl")[:2]))
    where = {"examples": str(next(workspace.glob("examples-*.jsonl"))), "index": str(next(workspace.glob("index-*")))}
    run = tmp_path / "model"  # eval.json is written beside the run; the study's own stays as it was
    shutil.copytree(builtin_model("reader") if strategy == "rag" else base, run)
    args = ["eval", str(run), "--qa", str(qa), "--instructions", str(instructions),
            *(o.format(**where) for o in options)]
    result = CliRunner().invoke(adaptlab.cli.app, args)
    assert result.exit_code == 0, result.output
    measures = results[strategy]["measures"]
    assert f"knowledge exact match {measures['knowledge_em']:.3f} on 4 questions" in result.output
    assert f"format compliance {measures['format_compliance']:.3f}" in result.output
    saved = json.loads((run / "eval.json").read_text())
    knowledge = next(v for k, v in saved.items() if k.startswith(str(qa)))
    assert knowledge["examples"] == measures["examples"]  # the very answers the study got


def test_a_rerun_skips_every_strategy_already_measured(study, tmp_path):
    out, results = study
    config, settings = load_study(out.parent / "study.yaml")
    log = tmp_path / "log"
    again = run_study(config, settings, out, Console(file=open(log, "w"), width=200))
    assert [r["key"] for r in again] == [r["key"] for r in results.values()]
    assert log.read_text().count("done in an earlier run") == len(results)
    saved = json.loads((out / "results.json").read_text())
    assert [r["measures"]["knowledge_em"] for r in saved] == [r["measures"]["knowledge_em"] for r in again]


def test_a_local_base_and_a_domain_folder_of_ones_own(study, tmp_path):
    out, _ = study
    workspace = out / "workspace"
    base = next(workspace.glob("base-*")) / "run"
    synthetic = next(p for p in workspace.glob("domain-*") if (p / "synth.json").is_file())
    folder = tmp_path / "legal"
    shutil.copytree(synthetic / "docs", folder / "docs")
    for name in DOMAIN_FILES:
        shutil.copy(synthetic / name, folder / name)
    (tmp_path / "study.yaml").write_text(f"""
base: {{run: {base}}}
domain: {{folder: {folder}}}
eval: {{questions: 3, instructions: 2, latency_requests: 1, bpb_documents: 2}}
strategies:
  - {{name: zero_shot, method: zero_shot}}
  - {{name: lora, method: lora, settings: {{steps: 2, batch_size: 2}}}}
costs: {{reference: zero_shot}}
""")
    config, settings = load_study(tmp_path / "study.yaml")
    results = run_study(config, settings, tmp_path / "out", Console(file=open(tmp_path / "log", "w")))
    assert [r["status"] for r in results] == ["done", "done"]
    assert results[0]["measures"]["domain_bpb"] > 0 and results[1]["measures"]["trainable_parameters"] > 0

    (folder / "qa_eval.jsonl").unlink()
    with pytest.raises(UserError, match=f"{folder}: a domain folder needs docs/ and .*; missing: qa_eval.jsonl"):
        load_study(tmp_path / "study.yaml")  # before anything runs
