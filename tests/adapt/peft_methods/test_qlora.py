"""QLoRA's NF4 base on both of bitsandbytes' CPU paths, forced either way on any host."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from adaptlab.adapt.peft_methods.model import wrap_with_adapter
from adaptlab.adapt.peft_methods.qlora import (
    cpu_packs_nf4,
    fits_packed_kernel,
    generic_path_layers,
    load_4bit,
    nf4_layers,
)
from adaptlab.adapt.peft_methods.settings import LoraSettings

# 64 wide with a 96-wide MLP: attention and gate/up fit the packed kernel, down_proj (96 inputs) does not.
MIXED = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=2, vocab_size=64, max_position_embeddings=32, bos_token_id=2, eos_token_id=3,
                    pad_token_id=0)
IDS = torch.tensor([[2, 10, 11, 12, 13, 14, 15, 16]])


@pytest.fixture(scope="module")
def mixed_base(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("mixed")
    LlamaForCausalLM(MIXED).save_pretrained(out)
    return out


@pytest.mark.parametrize("packing", [False, True])
def test_inference_packs_exactly_the_layers_whose_shape_fits(mixed_base, packing):
    model = load_4bit(mixed_base, packing=packing)
    layers = nf4_layers(model)
    assert len(layers) == 2 * 7  # every projection of both blocks is NF4 (lm_head stays full precision)
    packed = {name for name, layer in layers.items() if layer.support_avx512bf16_for_cpu}
    if packing:
        assert packed == {name for name in layers if not name.endswith("down_proj")}
    else:
        assert packed == set()
    if packing and not cpu_packs_nf4():
        return  # bitsandbytes registers the packed kernel only on CPUs with AVX512-BF16
    full = LlamaForCausalLM.from_pretrained(mixed_base).eval()
    with torch.no_grad():
        ours, reference = model(input_ids=IDS).logits, full(input_ids=IDS).logits
    assert torch.isfinite(ours).all()
    similarity = torch.nn.functional.cosine_similarity(ours.flatten(), reference.flatten(), dim=0)
    assert similarity > 0.95, similarity  # NF4's rounding, not another model
    assert any(getattr(layer.weight.quant_state, "packing_format_for_cpu", False) for layer in layers.values()) \
        == packing  # bitsandbytes took the path chosen
    generated = model.generate(IDS, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert generated.shape == (1, IDS.size(1) + 4)


def test_training_keeps_every_layer_on_the_path_with_a_backward(mixed_base):
    """Packed weights have no backward: after an evaluation pass, LoRA below them would get no gradient."""
    model = wrap_with_adapter(load_4bit(mixed_base, training=True, packing=True),
                              LoraSettings(name="qlora", r=4))
    assert not any(layer.support_avx512bf16_for_cpu for layer in nf4_layers(model).values())
    model.eval()
    with torch.no_grad():
        model(input_ids=IDS)
    model.train()
    for name, p in model.named_parameters():  # off the identity, so every LoRA factor gets a gradient
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    model(input_ids=IDS, labels=IDS).loss.backward()
    lora = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
    assert lora and all(g is not None and g.abs().sum() > 0 for g in lora.values()), \
        [name for name, g in lora.items() if g is None]


def test_cost_names_the_layers_left_on_the_generic_path(mixed_base, monkeypatch):
    model = load_4bit(mixed_base)
    import adaptlab.adapt.peft_methods.qlora as qlora

    monkeypatch.setattr(qlora, "cpu_packs_nf4", lambda: True)
    assert generic_path_layers(model) == ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"]
    assert all(fits_packed_kernel(layer) != name.endswith("down_proj") for name, layer in nf4_layers(model).items())
    monkeypatch.setattr(qlora, "cpu_packs_nf4", lambda: False)
    assert generic_path_layers(model) == []
