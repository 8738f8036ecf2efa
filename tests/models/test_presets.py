"""Presets build the right architectures at the advertised sizes; bad settings name their field."""

from __future__ import annotations

import pytest

from adaptlab.config import validate
from adaptlab.errors import UserError
from adaptlab.models.presets import SIZES, ModelConfig, SpecialIds, build_model, count_parameters
from adaptlab.train.settings import PretrainConfig

IDS = SpecialIds(pad=0, bos=2, eos=3)


@pytest.mark.parametrize(("family", "cls"), [("decoder", "LlamaForCausalLM"), ("encoder", "BertForMaskedLM"),
                                             ("encoder-decoder", "T5ForConditionalGeneration")])
def test_families_build_their_architecture(family, cls):
    model = build_model(ModelConfig(family=family, size="1m"), 1000, IDS)
    assert type(model).__name__ == cls
    assert 0.5e6 < count_parameters(model) < 3e6


@pytest.mark.parametrize("size", ["1m", "10m", "30m"])
def test_decoder_sizes_span_the_advertised_range(size):
    cfg = ModelConfig(family="decoder", size=size)
    n = count_parameters(build_model(cfg, 32, IDS))  # tiny vocab: nearly all parameters are the body
    target = {"1m": 1e6, "10m": 10e6, "30m": 30e6}[size]
    assert 0.5 * target < n < 1.5 * target, n


def test_hundred_million_preset_dimensions():
    cfg = ModelConfig(size="100m")
    body = 12 * cfg.hidden**2 * cfg.layers  # attention 4h^2 + SwiGLU 3*h*(8h/3) per layer
    assert (cfg.hidden, cfg.layers) == (SIZES["100m"].hidden, SIZES["100m"].layers) and 80e6 < body < 120e6


def test_overrides_win_over_the_preset():
    cfg = ModelConfig(size="10m", hidden_size=64, num_layers=3, num_heads=4)
    model = build_model(cfg, 100, IDS)
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 3


def test_bad_settings_name_the_field():
    with pytest.raises(UserError, match=r"model: hidden_size 64 is not divisible by num_heads 3"):
        validate(PretrainConfig, {"data": "d", "out": "o", "model": {"hidden_size": 64, "num_heads": 3}})
    with pytest.raises(UserError, match=r"unknown field 'train\.stepz' \(did you mean 'steps'\?\); accepted: steps, batch_size"):
        validate(PretrainConfig, {"data": "d", "out": "o", "train": {"stepz": 3}})
    with pytest.raises(UserError, match=r"model\.family: Input should be 'decoder', 'encoder' or 'encoder-decoder'"):
        validate(PretrainConfig, {"data": "d", "out": "o", "model": {"family": "rnn"}})
    with pytest.raises(UserError, match=r"train\.steps: Input should be greater than 0 \(got 0\)"):
        validate(PretrainConfig, {"data": "d", "out": "o", "train": {"steps": 0}})
