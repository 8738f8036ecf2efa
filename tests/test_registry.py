"""Every registered method walked the same way: trained a few steps on the tiny base, saved, reloaded
from its run folder as an `LM` that answers the three calls (tests/study/test_study.py runs each as a
study strategy). A method added to the registry is walked here without a line of this file changing."""

from __future__ import annotations

import math

import pytest
from context_helpers import cli_error
from helpers import tiny_config

import adaptlab.cli
from adaptlab import registry
from adaptlab.config import validate
from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.runs import read_manifest
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig

METHODS = list(registry.methods())
SMALL = {"r": 4, "virtual_tokens": 4}  # knobs sized for the tiny base, given to the methods that take them
CONTEXT, CONTINUATION = "The compound binds", " the receptor and"
TEXT = "A compound binds its receptor; the gene encodes the enzyme that clears it."


def _knobs(name: str) -> dict:
    fields = registry.method(name).settings.model_fields
    return {key: value for key, value in SMALL.items() if key in fields}


def _answers(lm: HFCausalLM) -> tuple[list, list, list]:
    return (lm.loglikelihood([(CONTEXT, CONTINUATION)]), lm.loglikelihood_rolling([TEXT]),
            lm.generate_until([(CONTEXT, {"until": ["."], "max_gen_toks": 6, "do_sample": False})]))


def test_the_builtin_methods_are_registered_once_each_in_a_stable_order():
    assert METHODS == ["full", "lora", "dora", "qlora", "ia3", "prefix", "prompt", "houlsby", "pfeiffer", "parallel",
                       "scaled_parallel", "loha"]
    assert set(registry.run_kinds()) == {"peft", "bottleneck"}
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_method(registry.methods()["lora"])


@pytest.mark.parametrize("name", METHODS)
def test_each_method_trains_saves_reloads_and_answers_the_three_calls(name, decoder_run, shards_dir, tmp_path):
    method = registry.method(name)
    run = tmp_path / name
    cfg = tiny_config(shards_dir, run, steps=4, lr=1e-2, eval_every=4, checkpoint_every=4).model_dump()
    result = pretrain(PretrainConfig(**{**cfg, "base": decoder_run, "method": {"name": name, **_knobs(name)}}),
                      progress=False)
    manifest = read_manifest(run)
    assert manifest["kind"] == method.run_kind and manifest["method"] == name
    assert manifest.get("base_quantization") == method.base_quantization
    if method.frozen_base:
        assert manifest["base"] == str((decoder_run / "model").resolve())
        assert 0 < result.trainable_parameters < result.parameters / 2
        assert not (run / "model" / "model.safetensors").exists()  # the artifact alone, not the base again
    else:
        assert result.trainable_parameters == result.parameters and "base" not in manifest

    adapted, again, base = HFCausalLM.from_path(run), HFCausalLM.from_path(run), HFCausalLM.from_path(decoder_run)
    (loglikelihood, is_greedy), = adapted.loglikelihood([(CONTEXT, CONTINUATION)])
    rolling, = adapted.loglikelihood_rolling([TEXT])
    text, = adapted.generate_until([(CONTEXT, {"until": ["."], "max_gen_toks": 6, "do_sample": False})])
    assert math.isfinite(loglikelihood) and loglikelihood < 0 and isinstance(is_greedy, bool)
    assert math.isfinite(rolling) and rolling < 0 and isinstance(text, str) and "." not in text
    # a second load answers exactly alike (nothing initialised afresh on load), and the base otherwise
    assert _answers(again) == ([(loglikelihood, is_greedy)], [rolling], [text])
    assert base.loglikelihood([(CONTEXT, CONTINUATION)])[0][0] != pytest.approx(loglikelihood, abs=1e-6)


def test_finetune_names_every_registered_method_when_given_another(monkeypatch, capsys):
    line = cli_error(adaptlab.cli.app, ["finetune", "--base", "b", "--data", "s", "--out", "o", "--method", "nosuch"],
                     monkeypatch, capsys)
    assert line.endswith(f"--method 'nosuch': unknown; accepted: {', '.join(METHODS)}")


@pytest.mark.parametrize("flag, value, method, takers", [
    ("--r", "8", "prefix", "lora, dora, qlora, houlsby, pfeiffer, parallel, scaled_parallel, loha"),
    ("--adapter-name", "x", "lora", "houlsby, pfeiffer, parallel, scaled_parallel"),
    ("--virtual-tokens", "8", "ia3", "prefix, prompt"),
])
def test_a_flag_the_method_does_not_take_names_the_methods_that_do(flag, value, method, takers, monkeypatch, capsys):
    line = cli_error(adaptlab.cli.app, ["finetune", "--base", "b", "--data", "s", "--out", "o", "--method", method,
                                        flag, value], monkeypatch, capsys)
    assert line.endswith(f"{flag}: not used by --method {method} ({flag} applies to {takers})")


def test_the_run_config_takes_a_method_by_name_or_with_its_settings():
    short = validate(PretrainConfig, {"out": "o", "data": "d", "base": "b", "method": "dora"})
    full = validate(PretrainConfig, {"out": "o", "data": "d", "base": "b", "method": {"name": "houlsby", "r": 3}})
    assert (short.method.name, short.method.r, short.adapts.run_kind) == ("dora", 8, "peft")
    assert (full.method.name, full.method.r, full.adapts.run_kind) == ("houlsby", 3, "bottleneck")
    assert PretrainConfig(out="o", data="d").method.name == "full"
    # what a run writes to pretrain.yaml reads back as the same method (resume)
    assert validate(PretrainConfig, full.model_dump(mode="json")).method == full.method


@pytest.mark.parametrize("method, message", [
    ({"name": "lora", "rr": 4}, "unknown field 'method.rr' (did you mean 'r'?); accepted: name, r, alpha"),
    ({"name": "lora", "r": 0}, "method.r: Input should be greater than 0 (got 0)"),
    ({"r": 4}, "method: give its name, one of full, lora, dora"),
    ({"name": "pfeiffer", "scaling": 2.0}, "method: scaling 2.0 applies to kind 'scaled_parallel' only"),
    ("nosuch", "method: Input tag 'nosuch' found using 'name' does not match any of the expected tags: 'full'"),
])
def test_a_wrong_method_setting_is_one_line_naming_it(method, message):
    with pytest.raises(UserError) as error:
        validate(PretrainConfig, {"out": "o", "data": "d", "base": "b", "method": method}, source="run.yaml")
    assert str(error.value).startswith(f"run.yaml: {message}")
