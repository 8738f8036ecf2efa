"""`adaptlab prompt render|ask` through the sub-app; a user's mistake is one line and exit code 2."""

from __future__ import annotations

import pytest
from context_helpers import cli_error
from typer.testing import CliRunner

from adaptlab.prompting.cli import app

runner = CliRunner()


@pytest.fixture()
def examples(tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"id": "a", "question": "What does Zorblex bind?", "answer": "Tatramase"}\n'
                    '{"id": "b", "question": "Who makes Quelvin?", "answer": "Morbemis"}\n')
    return path


def test_render_prints_the_prompt(examples):
    result = runner.invoke(app, ["render", "Who makes Drulondrix?", "--examples", str(examples), "--id", "b",
                                 "--id", "a", "--instruction", "Answer briefly."])
    assert result.exit_code == 0, result.output
    assert result.output == ("Answer briefly.\n\nQuestion: Who makes Quelvin?\nAnswer: Morbemis\n\n"
                             "Question: What does Zorblex bind?\nAnswer: Tatramase\n\n"
                             "Question: Who makes Drulondrix?\nAnswer:\n")


def test_ask_answers_through_the_template(examples, decoder_run):
    result = runner.invoke(app, ["ask", str(decoder_run), "Who makes Drulondrix?", "--examples", str(examples),
                                 "--k", "1", "--max-gen-toks", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Who makes Drulondrix? ")


@pytest.mark.parametrize(("args", "expected"), [
    (["render", "Q?", "--template", "nope"], "error: nope: no such template file; give a .j2 file or a built-in"),
    (["render", "Q?", "--k", "2"], "error: prompt: (settings): k=2 needs an examples file"),
    (["render", "Q?", "--select", "best"], "error: prompt: select: Input should be 'fixed', 'random' or 'similar'"),
])
def test_mistakes_are_one_line(args, expected, monkeypatch, capsys):
    assert cli_error(app, args, monkeypatch, capsys).startswith(expected)
