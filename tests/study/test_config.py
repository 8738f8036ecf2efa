"""A study.yaml is checked whole before anything runs; each mistake is one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from context_helpers import cli_error

from adaptlab.errors import UserError
from adaptlab.study.cli import app
from adaptlab.study.config import load_study
from adaptlab.study.strategies import DEFAULT_STRATEGIES


def _study(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_the_default_study_is_the_best_recipes_and_one_strategy_per_family_on_the_builtin_base():
    config, settings = load_study(None)
    assert [s.name for s in config.strategies] == [name for name, _, _ in DEFAULT_STRATEGIES]
    assert config.base.builtin and config.base.train is None and config.domain.synthetic is not None
    assert settings["rag"].reader == "builtin" and settings["rag_sft"].over == "sft" and config.seeds == 1
    assert settings["few_shot"].select == "similar"
    assert settings["lora"].name == "lora" and settings["lora"].r == 8 and settings["lora"].lr == 5e-3
    assert settings["bottleneck"].name == "pfeiffer" and settings["bottleneck"].r == 16


def test_settings_are_validated_by_their_method(tmp_path):
    config, settings = load_study(_study(tmp_path, """
strategies:
  - {name: few, method: few_shot}
  - {name: lora-r16, method: lora, settings: {r: 16, steps: 40}}
costs: {reference: few}
"""))
    assert settings["lora-r16"].r == 16 and settings["lora-r16"].steps == 40 and settings["few"].k == 2


@pytest.mark.parametrize("text, message", [
    ("strategies:\n  - {name: a, metod: lora}\n",
     "unknown field 'strategies.0.metod' (did you mean 'method'?); accepted: name, method, settings"),
    ("bsae: {train: {steps: 3}}\n", "unknown field 'bsae' (did you mean 'base'?); accepted: base, domain, strategies"),
    ("base: {train: {stpes: 3}}\n", "unknown field 'base.train.stpes' (did you mean 'steps'?); accepted: size, steps"),
    ("strategies:\n  - {name: a, method: lorra}\ncosts: {reference: a}\n",
     "strategies[0] (a): unknown method 'lorra'; accepted: zero_shot, few_shot, chain_of_thought, rag,"),
    ("strategies:\n  - {name: a, method: lora, settings: {rr: 4}}\ncosts: {reference: a}\n",
     "strategies[0] (a) settings: unknown field 'rr' (did you mean 'r'?); accepted: steps,"),
    ("strategies:\n  - {name: a, method: zero_shot}\n  - {name: a, method: lora}\ncosts: {reference: a}\n",
     "strategies[1] (a): the name 'a' is used twice"),
    ("strategies:\n  - {name: a, method: rag_sft}\ncosts: {reference: a}\n",
     "strategies[0] (a): over='sft' names no sft strategy listed before it"),
    ("strategies:\n  - {name: a, method: zero_shot}\n", "costs.reference 'few_shot' is not a strategy of the study; "
                                                      "accepted: a"),
    ("base: {run: x, train: {}}\n", "base: give exactly one of builtin: true"),
    ("base: {builtin: true, run: x}\n", "base: give exactly one of builtin: true"),
    ("seeds: 0\n", "seeds: Input should be greater than 0"),
    ("strategies:\n  - {name: a, method: rag, settings: {reader: nowhere}}\ncosts: {reference: a}\n",
     "strategies[0] (a) settings: reader: 'nowhere': no such folder; accepted: builtin, base or a reader's"),
    ("strategies:\n  - {name: ../x, method: zero_shot}\ncosts: {reference: ../x}\n",
     "strategies.0.name: '../x': use letters, digits, '_' and '-' (it names the strategy's folder)"),
    ("eval: {questions: 0}\n", "eval.questions: Input should be greater than 0 (got 0)"),
    ("base: {run: nowhere}\n", "base.run: nowhere: no such run or model folder"),
])
def test_a_mistake_is_one_line_naming_the_field_and_what_is_accepted(tmp_path, text, message):
    path = _study(tmp_path, text)
    with pytest.raises(UserError) as raised:
        load_study(path)
    assert message in str(raised.value) and str(raised.value).startswith(str(path))


def test_the_cli_prints_one_line_and_exits_2_before_running_anything(tmp_path, monkeypatch, capsys):
    path = _study(tmp_path, "strategies:\n  - {name: a, metod: lora}\n")
    line = cli_error(app, ["run", str(path), "--out", str(tmp_path / "out")], monkeypatch, capsys)
    assert "unknown field 'strategies.0.metod'" in line and "accepted: name, method, settings" in line
    assert not (tmp_path / "out").exists()
    assert "no saved study results" in cli_error(app, ["report", str(tmp_path / "none")], monkeypatch,
                                                 capsys)
