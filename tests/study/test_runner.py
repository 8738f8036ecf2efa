"""The runner: results saved as they come, reruns skip what is done, a failure is reported and the
study goes on (strategies and measurement stubbed here; tests/study/test_study.py runs them for real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from adaptlab.study import measures, runner, strategies
from adaptlab.study.config import load_study
from adaptlab.study.workspace import Workspace

MEASURES = {"knowledge_em": 0.5, "format_compliance": 0.25, "content_accuracy": 0.0, "domain_bpb": 2.0,
            "general_bpb": 2.5,
            "latency_p50_s": 0.1, "tokens_per_second": 50.0, "trainable_parameters": 0, "total_parameters": 10,
            "train_seconds": 0.0, "artifact_bytes": 0, "prompt_tokens_per_request": 30.0,
            "output_tokens_per_request": 4.0}


@pytest.fixture
def stubbed(tmp_path, monkeypatch) -> list[str]:
    """Each build is recorded; a strategy named `broken` raises."""
    built: list[str] = []
    ws = Workspace(*(tmp_path / n for n in ("base",)), "base-id", tmp_path / "domain", "domain-id",
                   *(tmp_path / n for n in ("corpus", "shards", "general", "index", "examples.jsonl", "reader")))
    monkeypatch.setattr(runner, "prepare_workspace", lambda *a: ws)

    def build(method, ctx, settings):
        built.append(ctx.out.name)
        if ctx.out.name == "broken":
            raise ValueError("boom\n  on a second line")
        return strategies.Built(lm=None, meters=[], causal=None, notes=[method, ctx.seed])

    def measure(built, ws, ev):  # what the seed changes, changed: knowledge EM 0.5 at seed 0, 0.6 at seed 1
        return {**MEASURES, "knowledge_em": 0.5 + built.notes[1] / 10}

    monkeypatch.setattr(strategies, "build", build)
    monkeypatch.setattr(measures, "measure", measure)
    return built


def _config(tmp_path: Path, k: int = 2):
    path = tmp_path / "study.yaml"
    path.write_text(f"""
strategies:
  - {{name: zero, method: zero_shot}}
  - {{name: broken, method: lora}}
  - {{name: few, method: few_shot, settings: {{k: {k}}}}}
costs: {{reference: few}}
""")
    return load_study(path)


def test_a_failure_is_reported_and_the_others_go_on_then_a_rerun_skips_what_is_done(tmp_path, stubbed):
    out = tmp_path / "out"
    results = runner.run_study(*_config(tmp_path), out, Console(file=open(tmp_path / "log", "w")))
    assert [(r["name"], r["status"]) for r in results] == [("zero", "done"), ("broken", "failed"), ("few", "done")]
    assert results[1]["error"] == "ValueError: boom on a second line"
    assert "Traceback" in (out / "strategies" / "broken" / "error.log").read_text()
    assert json.loads((out / "strategies" / "zero" / "result.json").read_text())["measures"]["knowledge_em"] == 0.5
    assert [r["name"] for r in json.loads((out / "results.json").read_text())] == ["zero", "broken", "few"]
    md = (out / "report.md").read_text()
    assert "boom on a second line" in md and (out / "report.html").is_file()
    assert stubbed == ["zero", "broken", "few"]

    stubbed.clear()
    runner.run_study(*_config(tmp_path), out, Console(file=open(tmp_path / "log", "w")))
    assert stubbed == ["broken"]  # done ones kept, the failed one tried again
    runner.run_study(*_config(tmp_path, k=3), out, Console(file=open(tmp_path / "log", "w")))
    assert stubbed == ["broken", "broken", "few"]  # new settings, new key

    last = (out / "report.md").read_text()
    (out / "report.md").unlink()
    md_path, html_path = runner.rerender(out)  # from the saved results alone
    assert md_path.read_text() == last and html_path.is_file()


def test_seeds_run_each_strategy_again_and_report_mean_and_spread(tmp_path, stubbed):
    config, settings = _config(tmp_path)
    out = tmp_path / "out"
    results = runner.run_study(config.model_copy(update={"seeds": 2}), settings, out,
                               Console(file=open(tmp_path / "log", "w")))
    assert stubbed == ["zero", "zero", "broken", "broken", "few", "few"]  # each strategy's seeds, then the next
    zero = results[0]
    assert zero["seeds"] == [0, 1] and zero["measures"]["knowledge_em"] == pytest.approx(0.55)
    assert zero["spread"]["knowledge_em"] == pytest.approx(0.0707, abs=1e-4)
    assert zero["spread"]["format_compliance"] == 0
    assert (out / "seeds" / "1" / "zero" / "result.json").is_file() and results[1]["status"] == "failed"
    assert "0.550 ± 0.071" in (out / "report.md").read_text()


def test_strategy_keys_follow_settings_base_domain_seed_and_the_sft_they_read_with(tmp_path):
    config, settings = load_study(None)
    ws = Workspace(tmp_path, "base-1", tmp_path, "domain-1", *[tmp_path] * 6)
    key = runner.strategy_key("lora", settings["lora"], ws, config, {}, 0)
    assert key == runner.strategy_key("lora", settings["lora"], ws, config, {}, 0)
    assert key != runner.strategy_key("lora", settings["lora"], ws, config, {}, 1)
    assert key != runner.strategy_key("lora", settings["lora"].model_copy(update={"r": 4}), ws, config, {}, 0)
    other_base = Workspace(tmp_path, "base-2", tmp_path, "domain-1", *[tmp_path] * 6)
    assert key != runner.strategy_key("lora", settings["lora"], other_base, config, {}, 0)
    over = {"sft": {"key": "a"}}
    assert runner.strategy_key("rag_sft", settings["rag_sft"], ws, config, over, 0) != \
        runner.strategy_key("rag_sft", settings["rag_sft"], ws, config, {"sft": {"key": "b"}}, 0)
