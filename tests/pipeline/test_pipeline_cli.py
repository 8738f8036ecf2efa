"""`adaptlab pipeline run` through the sub-app: output then per-stage seconds; mistakes are one line."""

from __future__ import annotations

import re

from context_helpers import cli_error
from typer.testing import CliRunner

from adaptlab.pipeline.cli import app


def test_run_prints_output_and_timings(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("stages:\n  - {name: prompt, template: zero_shot}\n  - {name: tidy, function: 'textwrap:dedent'}\n")
    result = CliRunner().invoke(app, ["run", str(path), "Who makes Quelvin?"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["Question: Who makes Quelvin?", "Answer:"]
    assert re.fullmatch(r"prompt +\d+\.\d{3} s", lines[2]) and re.fullmatch(r"tidy +\d+\.\d{3} s", lines[3])


def test_yaml_typo_is_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("stages:\n  - {name: prompt, template: zero_shot, instructions: hi}\n")
    line = cli_error(app, ["run", str(path), "Q?"], monkeypatch, capsys)
    assert line.startswith(f"error: {path}: stage 'prompt': unknown field 'instructions' (did you mean 'instruction'?)")
