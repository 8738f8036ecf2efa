"""An adapter folder round-trips exactly and refuses a base it was not made for."""

from __future__ import annotations

import pytest
import torch
import yaml

from adaptlab.adapt.bottleneck import AdapterModel, BottleneckConfig
from adaptlab.errors import UserError

FAMILIES = ["decoder", "encoder", "encoder-decoder"]


def _saved(tiny, randomise, tmp_path, family: str = "decoder"):
    model = AdapterModel(tiny(family))
    model.add_adapter("legal", BottleneckConfig(kind="scaled_parallel", r=4, activation="gelu", scaling=3.0))
    randomise(model.adapters["legal"], seed=7)
    return model, model.save_adapter("legal", tmp_path / "legal")


@pytest.mark.parametrize("family", FAMILIES)
def test_save_then_load_into_a_fresh_base_reproduces_the_outputs(tiny, batch, randomise, tmp_path, family):
    model, folder = _saved(tiny, randomise, tmp_path, family)
    inputs = batch(family)
    with model.active("legal"), torch.no_grad():
        expected = model(**inputs).logits

    fresh = AdapterModel(tiny(family))
    assert fresh.load_adapter(folder) == "legal"
    assert fresh.load_adapter(folder, name="copy") == "copy"
    assert fresh.configs["legal"] == model.configs["legal"]
    for name in ("legal", "copy"):
        with fresh.active(name), torch.no_grad():
            assert torch.equal(fresh(**inputs).logits, expected)


def test_the_folder_holds_safetensors_and_readable_settings(tiny, randomise, tmp_path):
    _, folder = _saved(tiny, randomise, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter.safetensors", "adapter.yaml"]
    settings = yaml.safe_load((folder / "adapter.yaml").read_text())
    assert settings["config"] == {"kind": "scaled_parallel", "r": 4, "activation": "gelu", "scaling": 3.0,
                                  "dropout": 0.0}
    assert {k: v for k, v in settings["base"].items() if k != "weights_sha256"} == {
        "architecture": "LlamaForCausalLM", "hidden_size": 32, "num_layers": 2, "vocab_size": 64}


@pytest.mark.parametrize(("other", "difference"), [
    ({"hidden": 48}, "hidden_size: adapter 32, this base 48"),
    ({"seed": 1}, "weights_sha256: adapter "),
    ({"family": "encoder"}, "architecture: adapter LlamaForCausalLM, this base BertForMaskedLM"),
])
def test_loading_into_another_base_names_the_folder_and_the_difference(tiny, randomise, tmp_path, other,
                                                                       difference):
    _, folder = _saved(tiny, randomise, tmp_path)
    target = AdapterModel(tiny(**other))
    with pytest.raises(UserError, match="another base model") as err:
        target.load_adapter(folder)
    message = str(err.value)
    assert message.startswith(str(folder)) and difference in message and "\n" not in message
    assert len(target.adapters) == 0


def test_broken_folders_are_one_line_errors(tiny, randomise, tmp_path):
    model, folder = _saved(tiny, randomise, tmp_path)
    with pytest.raises(UserError, match="no adapter.yaml"):
        model.load_adapter(tmp_path)
    settings = yaml.safe_load((folder / "adapter.yaml").read_text())
    settings["config"]["r"] = 8  # the weights were saved with r=4
    (folder / "adapter.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(UserError, match=r"weights do not match its settings \(layer0_parallel.down.bias has shape"):
        model.load_adapter(folder, name="wrong")
    assert "wrong" not in model.adapters
    settings["config"]["kind"] = "lora"
    (folder / "adapter.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(UserError, match=r"config\.kind"):
        model.load_adapter(folder, name="wrong")
    settings["config"]["kind"] = "scaled_parallel"
    (folder / "adapter.yaml").write_text(yaml.safe_dump(settings))
    (folder / "adapter.safetensors").unlink()
    with pytest.raises(UserError, match="no adapter.safetensors"):
        model.load_adapter(folder, name="wrong")
