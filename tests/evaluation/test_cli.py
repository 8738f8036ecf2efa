"""`adaptlab eval` over systems: a model as it is, behind a template, behind retrieval, or a pipeline,
scored by the same task functions the study and `rag eval` use."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import adaptlab.cli
from adaptlab.evaluation.systems import build_system
from adaptlab.evaluation.tasks import knowledge_exact_match, read_instructions, read_qa
from adaptlab.lm import HFCausalLM
from adaptlab.prompting.prompted_lm import PromptedLM
from adaptlab.prompting.prompter import PromptSettings
from context_helpers import cli_error


@pytest.fixture(scope="module")
def base(shards_dir, tmp_path_factory):
    """A tiny decoder with room in its context for a question and the 96 tokens an instruction may take."""
    from adaptlab.train.loop import pretrain
    from helpers import tiny_config

    out = tmp_path_factory.mktemp("eval") / "base"
    pretrain(tiny_config(shards_dir, out, model={"max_seq_len": 192}, steps=5, eval_every=5, checkpoint_every=5),
             progress=False)
    return out


@pytest.fixture(scope="module")
def tasks(corpus_dir, tmp_path_factory):
    synth, folder = corpus_dir.parent / "synth", tmp_path_factory.mktemp("tasks")
    qa, instructions = folder / "qa.jsonl", folder / "instructions.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in read_qa(synth / "qa_eval.jsonl")[:5]))
    instructions.write_text("".join(json.dumps(r) + "\n" for r in read_instructions(
        synth / "instructions_eval.jsonl")[:3]))
    return qa, instructions


def test_a_templated_model_answers_as_the_prompted_lm_does_and_its_scores_are_saved(base, tasks, tmp_path):
    qa, instructions = tasks
    result = CliRunner().invoke(adaptlab.cli.app, ["eval", str(base), "--qa", str(qa), "--instructions",
                                                   str(instructions), "--template", "zero_shot"])
    assert result.exit_code == 0, result.output
    by_hand = knowledge_exact_match(PromptedLM.from_settings(HFCausalLM.from_path(base),
                                                             PromptSettings(template="zero_shot")), read_qa(qa))
    saved = json.loads((base / "eval.json").read_text())
    knowledge = saved[f"{qa} (zero_shot)"]
    assert knowledge["examples"] == by_hand["examples"] and knowledge["questions"] == 5
    assert f"knowledge exact match {by_hand['exact_match']:.3f} on 5 questions" in result.output
    assert saved[f"{instructions} (zero_shot)"]["instructions"] == 3


def test_a_pipeline_yaml_is_a_system_and_answers_as_the_same_system_built_by_flags(base, tasks, tmp_path):
    qa, _ = tasks
    declared = tmp_path / "pipeline.yaml"
    declared.write_text(f"stages:\n  - {{name: ask, template: zero_shot}}\n  - {{name: model, lm: {base}}}\n")
    from_yaml = knowledge_exact_match(build_system(declared), read_qa(qa))
    from_flags = knowledge_exact_match(build_system(base, template="zero_shot"), read_qa(qa))
    assert from_yaml["answers"] == from_flags["answers"]
    result = CliRunner().invoke(adaptlab.cli.app, ["eval", str(declared), "--qa", str(qa)])
    assert result.exit_code == 0 and f"knowledge exact match {from_yaml['exact_match']:.3f}" in result.output


@pytest.mark.parametrize("args, message", [
    (["--qa", "{qa}", "--text", "{qa}"], "score a text (--text, --corpus) or a system's answers (--qa, --instructions)"),
    (["--text", "{qa}", "--template", "few_shot"], "--template: only used with --qa or --instructions"),
    (["--qa", "{qa}", "--template", "zero_shot", "--rag", "ix"], "--template or --rag, not both"),
    (["--qa", "{qa}", "--sentences", "3"], "--sentences, --extractive: only used with --rag"),
    (["--qa", "{qa}", "--examples", "{qa}"], "--examples, --select, --k: only used with --template"),
])
def test_system_options_out_of_place_are_one_line(base, tasks, args, message, monkeypatch, capsys):
    qa, _ = tasks
    line = cli_error(adaptlab.cli.app, ["eval", str(base), *(a.format(qa=qa) for a in args)], monkeypatch, capsys)
    assert message in line
