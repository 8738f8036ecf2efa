"""Helpers for the prompting and pipeline tests: an LM that records what it is asked, and a
sub-app run through `adaptlab.cli.main` as `adaptlab <group> ...` runs it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import typer

from adaptlab.lm import LM


class RecordingLM(LM):
    """Answers from `reply(context)`, scores by length, and keeps every request it saw."""

    def __init__(self, reply: Callable[[str], str] = lambda context: "reply"):
        self.reply = reply
        self.calls: list[tuple[str, list[Any]]] = []

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        self.calls.append(("loglikelihood", list(requests)))
        return [(-float(len(continuation)), True) for _, continuation in requests]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        self.calls.append(("loglikelihood_rolling", list(texts)))
        return [-float(len(text)) for text in texts]

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        self.calls.append(("generate_until", list(requests)))
        return [self.reply(context) for context, _ in requests]


def cli_error(app: typer.Typer, args: Sequence[str], monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `adaptlab.cli.main` prints for a user's mistake in `app` (asserting exit code 2)."""
    import adaptlab.cli

    monkeypatch.setattr(adaptlab.cli, "app", app)
    monkeypatch.setattr(sys, "argv", ["adaptlab", *args])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]
