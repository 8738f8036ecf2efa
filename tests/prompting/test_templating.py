"""Templates: built-ins ship as package files, render exactly what they are given, and a
mistake in a template is one error naming the file."""

from __future__ import annotations

from importlib.resources import files

import pytest

from adaptlab.errors import UserError
from adaptlab.prompting.examples import Example, read_examples
from adaptlab.prompting.templating import BUILTIN, load_template

EXAMPLES = [Example("a", "What does Zorblex bind?", "Tatramase", "Zorblex is a Tatramase inhibitor."),
            Example("b", "Who makes Quelvin?", "Morbemis Pharma")]


def test_builtins_ship_as_package_files():
    folder = files("adaptlab.prompting") / "templates"
    assert {f"{name}.j2" for name in BUILTIN} <= {entry.name for entry in folder.iterdir()}


def test_few_shot_shows_exactly_the_examples_in_order():
    prompt = load_template("few_shot").render("Who makes Drulondrix?", EXAMPLES[::-1], "Answer briefly.")
    assert prompt == ("Answer briefly.\n\n"
                      "Question: Who makes Quelvin?\nAnswer: Morbemis Pharma\n\n"
                      "Question: What does Zorblex bind?\nAnswer: Tatramase\n\n"
                      "Question: Who makes Drulondrix?\nAnswer:")
    assert load_template("few_shot").render("Q?") == load_template("zero_shot").render("Q?") == "Question: Q?\nAnswer:"


def test_reasoning_templates_cue_steps_and_show_reasoning():
    cot = load_template("chain_of_thought")
    prompt = cot.render("Who makes Drulondrix?", EXAMPLES)
    assert "Reasoning: Zorblex is a Tatramase inhibitor.\nAnswer: Tatramase" in prompt
    assert "Question: Who makes Quelvin?\nAnswer: Morbemis Pharma" in prompt  # no reasoning, no line
    assert prompt.endswith("Reasoning: Let's think step by step.")
    hybrid = load_template("hybrid")
    prompt = hybrid.render("Who makes Drulondrix?", EXAMPLES)
    assert "Reasoning: Zorblex" not in prompt and "step by step" in prompt
    assert cot.reasons and hybrid.reasons and cot.uses_examples
    assert not load_template("few_shot").reasons and not load_template("zero_shot").uses_examples


def test_user_template_may_extend_a_builtin(tmp_path):
    path = tmp_path / "terse.j2"
    path.write_text('{% extends "adaptlab/hybrid.j2" %}{% block instruction %}Be terse.\n{% endblock %}')
    template = load_template(path)
    assert template.render("Q?").startswith("Be terse.\nQuestion: Q?") and template.reasons


@pytest.mark.parametrize(("text", "expected"), [
    ("{{ question }} {{ exmples }}",
     "t.j2: unknown template variable 'exmples'; accepted: examples, instruction, question"),
    ("{% for e in examples %}{{ e.question }\n{% endfor %}", "t.j2:1: template syntax error: unexpected '}'"),
    ('{% extends "base.j2" %}', "t.j2: template 'base.j2' not found"),
])
def test_template_mistakes_name_the_file(tmp_path, text, expected):
    (tmp_path / "t.j2").write_text(text)
    with pytest.raises(UserError) as err:
        load_template(tmp_path / "t.j2")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_unknown_variable_in_an_extended_template_names_that_file(tmp_path):
    (tmp_path / "base.j2").write_text("{{ question }}{{ context }}")
    (tmp_path / "child.j2").write_text('{% extends "base.j2" %}')
    with pytest.raises(UserError, match=r"base.j2: unknown template variable 'context'"):
        load_template(tmp_path / "child.j2")


def test_missing_template_and_bad_example_field(tmp_path):
    with pytest.raises(UserError, match="no_such: no such template file; give a .j2 file or a built-in: zero_shot"):
        load_template("no_such")
    (tmp_path / "t.j2").write_text("{% for e in examples %}{{ e.rationale }}{% endfor %}")
    with pytest.raises(UserError, match="'rationale'.*an example has: id, question, answer, reasoning"):
        load_template(tmp_path / "t.j2").render("Q?", EXAMPLES)


def test_read_examples_names_the_line(tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"id": "x", "question": "Q?", "answer": "A", "reasoning": "R"}\n{"question": "Q2?"}\n')
    with pytest.raises(UserError, match=r"ex.jsonl:2: example needs a text 'answer'"):
        read_examples(path)
    path.write_text('{"question": "Q?", "answer": "A"}\n')
    assert read_examples(path) == [Example(f"{path}:1", "Q?", "A")]
