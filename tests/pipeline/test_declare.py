"""Pipelines declared in YAML: every stage kind, paths read from the file's folder, typos named."""

from __future__ import annotations

import pytest
import yaml

from adaptlab.errors import UserError
from adaptlab.pipeline.declare import load_pipeline


def write(folder, stages) -> object:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"stages": stages}))
    return path


def test_every_stage_kind_from_yaml(tmp_path, decoder_run):
    (tmp_path / "decl_stages.py").write_text("def shout(text):\n    return text.upper()\n")
    (tmp_path / "ex.jsonl").write_text('{"question": "What does Zorblex bind?", "answer": "Tatramase"}\n')
    path = write(tmp_path, [
        {"name": "shout", "function": "decl_stages:shout"},
        {"name": "ask", "template": "few_shot", "examples": "ex.jsonl", "k": 1},
        {"name": "model", "lm": str(decoder_run), "generate": {"max_gen_toks": 3}},
        {"name": "answer", "function": "adaptlab.prompting.answers:extract_answer"},
    ])
    pipeline = load_pipeline(path)
    result = pipeline.run("who makes quelvin?")
    assert [run.name for run in result.stages] == ["shout", "ask", "model", "answer"]
    assert result.stages[1].output == ("Question: What does Zorblex bind?\nAnswer: Tatramase\n\n"
                                       "Question: WHO MAKES QUELVIN?\nAnswer:")
    assert result.output == result.stages[2].output.strip().split("\n")[-1].strip()
    assert pipeline.generate_until([("who makes quelvin?", {"max_gen_toks": 3})]) == [result.output]


@pytest.mark.parametrize(("stages", "expected"), [
    ([{"name": "a", "function": "x:y", "fucntion": "z"}],
     "stage 'a': unknown field 'fucntion' (did you mean 'function'?); accepted: name, function"),
    ([{"name": "a", "templat": "few_shot"}],
     "stage 'a': a stage has exactly one of lm, function, template; got none (did you mean 'template'?)"),
    ([{"name": "a", "lm": "run", "generate": {"max_tokens": 3}}],
     "stage 'a': unknown field 'generate.max_tokens'"),
    ([{"name": "a", "template": "few_shot", "k": -1}], "stage 'a': k: Input should be greater than or equal to 0"),
    ([{"function": "a:b"}], "stages[0]: name: Field required"),
    ([{"name": "a", "function": "no_such_module_x:f"}], "stage 'a': function 'no_such_module_x:f': cannot import"),
    ([{"name": "a", "function": "adaptlab.prompting.answers:nothing"}],
     "stage 'a': function 'adaptlab.prompting.answers:nothing': adaptlab.prompting.answers has no function 'nothing'"),
    ([{"name": "a", "template": "missing.j2"}], "stage 'a': "),
    ([{"name": "a", "lm": "no_run"}], "stage 'a': "),
    ([{"name": "a", "function": "x:y"}, {"name": "a", "lm": "r"}], "stage name 'a' is used twice"),
])
def test_mistakes_name_the_stage_and_field(tmp_path, stages, expected):
    with pytest.raises(UserError) as err:
        load_pipeline(write(tmp_path, stages))
    message = str(err.value)
    assert message.startswith(str(tmp_path / "pipeline.yaml")) and expected in message and "\n" not in message


def test_top_level_typo(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("stage:\n  - {name: a, function: 'x:y'}\n")
    with pytest.raises(UserError, match="unknown field 'stage' \\(did you mean 'stages'\\?\\); accepted: stages"):
        load_pipeline(path)
    path.write_text("stages: []\n")
    with pytest.raises(UserError, match="p.yaml: a pipeline needs at least one stage"):
        load_pipeline(path)
