"""Adapting a trained base on token shards: full continued pretraining and peft methods."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from adaptlab.adapt.merge import merge_lora
from adaptlab.adapt.qlora import cpu_packs_nf4, load_4bit, nf4_layers
from adaptlab.config import validate
from adaptlab.errors import UserError
from adaptlab.runs import load_model
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig
from helpers import tiny_config

METHODS = ["full", "lora", "dora", "qlora", "ia3", "prefix", "prompt", "houlsby", "scaled_parallel"]
BOTTLENECK = {"houlsby", "scaled_parallel"}


def finetune_config(shards, out, base, method: str, **train) -> PretrainConfig:
    cfg = tiny_config(shards, out, steps=20, lr=1e-2, **train).model_dump()
    if method in BOTTLENECK:
        return PretrainConfig(**{**cfg, "base": base, "bottleneck": {"kind": method, "r": 4, "name": "domain"}})
    adapter = None if method == "full" else {"method": method, "r": 4, "num_virtual_tokens": 4}
    return PretrainConfig(**{**cfg, "base": base, "adapter": adapter})


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -ids.size(1) :]


@pytest.fixture(scope="module")
def runs(decoder_run, shards_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    return {m: (pretrain(finetune_config(shards_dir, root / m, decoder_run, m), progress=False), root / m)
            for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_each_method_lowers_validation_loss_and_reloads_without_adaptlab(method, runs, decoder_run):
    result, run = runs[method]
    base_val = json.loads((decoder_run / "eval.json").read_text())["validation"]["val_loss"]
    if method == "full":  # continued pretraining of an undertrained base: a clear gain
        assert result.history[-1]["val_loss"] < base_val - 0.1, (result.history, base_val)

    cost = json.loads((run / "cost.json").read_text())
    assert cost["trainable_parameters"] == result.trainable_parameters and cost["artifact_bytes"] > 0
    if method == "full":
        assert cost["trainable_share"] == 1.0
        plain = AutoModelForCausalLM.from_pretrained(run / "model").eval()
    elif method in BOTTLENECK:  # adaptlab's own format: safetensors + YAML, loaded by adaptlab
        assert 0 < cost["trainable_share"] < 0.1
        assert {p.name for p in (run / "model").iterdir()} >= {"adapter.safetensors", "adapter.yaml"}
        plain = load_model(run).model
    elif method == "qlora":  # the adapter was trained over an NF4 base; it reloads over the same
        assert 0 < cost["trainable_share"] < 0.1
        assert "Linear4bit" in {type(m).__name__ for m in load_model(run).model.modules()}
        narrow = sorted(nf4_layers(load_4bit(decoder_run / "model"))) if cpu_packs_nf4() else []
        assert cost["nf4_generic_path_layers"] == narrow  # 32 wide: none fits bitsandbytes' packed kernel
        base = load_4bit(decoder_run / "model")
        plain = PeftModel.from_pretrained(base, run / "model").eval()
    else:
        assert 0 < cost["trainable_share"] < 0.1
        base = AutoModelForCausalLM.from_pretrained(decoder_run / "model")
        plain = PeftModel.from_pretrained(base, run / "model").eval()
        assert not (run / "model" / "config.json").exists()  # the artifact is the adapter alone
    ids = torch.tensor([[3, 40, 41, 42, 43, 44]])
    ours = load_model(run).model
    assert torch.equal(_logits(plain, ids), _logits(ours, ids))
    assert not torch.equal(_logits(ours, ids), _logits(load_model(decoder_run).model, ids))  # the adapter trained
    if method not in ("full", "qlora"):  # ... and the base under it did not (NF4 weights compare differently)
        under = ours.base if method in BOTTLENECK else ours.get_base_model()
        frozen = {k.replace(".base_layer", ""): v for k, v in under.state_dict().items()}
        for key, value in load_model(decoder_run).model.state_dict().items():
            assert torch.equal(frozen[key], value), key


def test_qlora_counts_the_base_as_the_same_model(runs):
    lora, qlora = runs["lora"][0], runs["qlora"][0]
    assert (qlora.parameters, qlora.trainable_parameters) == (lora.parameters, lora.trainable_parameters)


def test_lora_merges_into_a_plain_model_with_the_same_outputs(runs, tmp_path):
    _, run = runs["lora"]
    merge_lora(run, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / "model").eval()
    ids = torch.tensor([[3, 40, 41, 42, 43, 44]])
    torch.testing.assert_close(_logits(merged, ids), _logits(load_model(run).model, ids), atol=1e-5, rtol=1e-5)
    with pytest.raises(UserError, match="only LoRA/DoRA adapters merge"):
        merge_lora(runs["ia3"][1], tmp_path / "ia3-merged")


def test_bad_adapter_settings_are_named(decoder_run, shards_dir, tmp_path):
    cfg = finetune_config(shards_dir, tmp_path / "a", decoder_run, "lora").model_dump()
    with pytest.raises(UserError, match=r"unknown module 'qproj'; valid: .*q_proj"):
        pretrain(PretrainConfig(**{**cfg, "adapter": {"target_modules": ["qproj"]}}), progress=False)
    with pytest.raises(UserError, match=r"adapter.r 64 is larger than layer .*q_proj \(32x32\); use r <= 32"):
        pretrain(PretrainConfig(**{**cfg, "out": tmp_path / "b", "adapter": {"r": 64, "target_modules": ["q_proj"]}}),
                 progress=False)
    with pytest.raises(UserError, match="an adapter is trained on a base: set base"):
        validate(PretrainConfig, {**cfg, "base": None, "adapter": {"method": "lora"}})


def test_adapter_checkpoints_hold_only_the_adapter_and_resume_exactly(decoder_run, shards_dir, tmp_path):
    straight = pretrain(finetune_config(shards_dir, tmp_path / "straight", decoder_run, "lora"), progress=False)

    def crash(step: int) -> None:
        if step == 15:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        pretrain(finetune_config(shards_dir, tmp_path / "resumed", decoder_run, "lora"), progress=False, on_step=crash)
    saved = load_file(str(tmp_path / "resumed" / "checkpoint" / "model.safetensors"))
    assert saved and all("lora_" in key for key in saved)
    resumed = pretrain(finetune_config(shards_dir, tmp_path / "resumed", decoder_run, "lora"), progress=False,
                       resume=True)
    assert resumed.history[-1]["val_loss"] == straight.history[-1]["val_loss"]
    a = load_file(str(tmp_path / "straight" / "model" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_qlora_run_generates_after_reload_as_its_model_scores(runs):
    """Generation over the NF4 base takes the path chosen for each layer on this CPU and agrees with scoring."""
    from adaptlab.lm import HFCausalLM

    lm = HFCausalLM.from_path(runs["qlora"][1])
    [text] = lm.generate_until([("The", {"until": [], "max_gen_toks": 6, "do_sample": False})])
    [(_, greedy)] = lm.loglikelihood([("The", text)])
    assert text and greedy  # the generated continuation is the model's own argmax at every step
