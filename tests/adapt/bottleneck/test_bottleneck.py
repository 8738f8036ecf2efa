"""Each kind of bottleneck adapter: starts as the identity, sits where its paper puts it, trains alone."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from adaptlab.adapt.bottleneck import AdapterModel, BottleneckConfig
from adaptlab.errors import UserError

FAMILIES = ["decoder", "encoder", "encoder-decoder"]
KINDS = ["houlsby", "pfeiffer", "parallel", "scaled_parallel"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_fresh_adapter_leaves_the_logits_exactly_unchanged(tiny, batch, family, kind):
    base, inputs = tiny(family), batch(family)
    with torch.no_grad():  # T5 picks another attention kernel with grad on: compare like with like
        before = base(**inputs).logits
        model = AdapterModel(base)
        model.add_adapter("a", BottleneckConfig(kind=kind, activation="gelu"))
        model.set_active("a")
        after = model(**inputs).logits
    assert torch.equal(after, before)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_changes_only_the_active_adapter_and_the_logits(tiny, batch, family, kind):
    model = AdapterModel(tiny(family))
    model.add_adapter("task", BottleneckConfig(kind=kind))
    model.add_adapter("other", BottleneckConfig(kind=kind))
    model.set_active("task")
    inputs = batch(family)
    base_before = {k: v.clone() for k, v in model.base.state_dict().items()}
    adapters_before = {k: v.clone() for k, v in model.adapters.state_dict().items()}
    with torch.no_grad():
        logits_before = model(**inputs).logits

    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.adapters["task"].parameters()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    labels = inputs.get("decoder_input_ids", inputs["input_ids"])
    model(**inputs, labels=labels).loss.backward()
    optimizer.step()

    assert all(torch.equal(v, base_before[k]) for k, v in model.base.state_dict().items())
    assert all(p.grad is None for p in model.base.parameters())
    after = model.adapters.state_dict()
    assert all(torch.equal(after[k], v) for k, v in adapters_before.items() if k.startswith("other."))
    assert all(not torch.equal(after[k], v) for k, v in adapters_before.items()
               if k.startswith("task.") and ".up." in k)
    with torch.no_grad():
        assert not torch.equal(model(**inputs).logits, logits_before)


@pytest.mark.parametrize(("kind", "sites"), [("houlsby", {"attention", "ffn"}), ("pfeiffer", {"ffn"}),
                                             ("parallel", {"parallel"}), ("scaled_parallel", {"parallel"})])
def test_each_kind_has_its_adapters_per_layer(tiny, kind, sites):
    model = AdapterModel(tiny("decoder"))
    model.add_adapter("a", BottleneckConfig(kind=kind))
    assert set(model.adapters["a"]) == {f"layer{i}_{site}" for i in range(2) for site in sites}


def _layer_io(layer: torch.nn.Module, run) -> tuple[tuple, dict, torch.Tensor]:
    """The positional and keyword inputs a layer received during `run()`, and what it returned."""
    seen = {}

    def record(module, args, kwargs, output):
        seen.update(args=args, kwargs=kwargs, output=output)

    handle = layer.register_forward_hook(record, with_kwargs=True)
    run()
    handle.remove()
    out = seen["output"]
    return seen["args"], seen["kwargs"], out[0] if isinstance(out, tuple) else out


def _adapter(model: AdapterModel, key: str):
    """The active adapter's module at `key`, or nothing (adds 0) where its kind has none."""
    adapters = model.adapters["a"]
    return adapters[key] if key in adapters else (lambda t: 0)


@pytest.mark.parametrize("kind", KINDS)
def test_llama_layer_follows_the_paper_formulas(tiny, batch, randomise, kind):
    """h = x + a + A_att(a); out = h + f + A_ffn(f) + s*A_par(n), a = attention, f = mlp(n), n = norm(h)."""
    model = AdapterModel(tiny("decoder"))
    model.add_adapter("a", BottleneckConfig(kind=kind, scaling=2.0 if kind == "scaled_parallel" else None))
    randomise(model.adapters["a"], seed=3)
    model.set_active("a")
    layer = model.base.model.layers[0]
    with torch.no_grad():
        args, kwargs, out = _layer_io(layer, lambda: model(**batch("decoder")))
        x = args[0] if args else kwargs.pop("hidden_states")
        kwargs = {k: v for k, v in kwargs.items() if k in ("attention_mask", "position_ids", "position_embeddings")}
        attn = layer.self_attn.forward(hidden_states=layer.input_layernorm(x), **kwargs)[0]  # .forward: no hooks
        h = x + attn + _adapter(model, "layer0_attention")(attn)
        n = layer.post_attention_layernorm(h)
        f = layer.mlp.forward(n)
        expected = h + f + _adapter(model, "layer0_ffn")(f) + _adapter(model, "layer0_parallel")(n)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_bert_layer_follows_the_paper_formulas(tiny, batch, randomise, kind):
    """Post-norm: each adapter acts on a projection's output before its residual LayerNorm."""
    model = AdapterModel(tiny("encoder"))
    model.add_adapter("a", BottleneckConfig(kind=kind))
    randomise(model.adapters["a"], seed=4)
    model.set_active("a")
    layer = model.base.bert.encoder.layer[0]
    with torch.no_grad():
        args, kwargs, out = _layer_io(layer, lambda: model(**batch("encoder")))
        x = args[0] if args else kwargs.pop("hidden_states")
        self_out = layer.attention.self(x, attention_mask=kwargs.get("attention_mask"))[0]
        proj = layer.attention.output.dense.forward(self_out)
        att = layer.attention.output.LayerNorm(proj + _adapter(model, "layer0_attention")(proj) + x)
        ffn = layer.output.dense.forward(layer.intermediate(att))
        expected = layer.output.LayerNorm(ffn + _adapter(model, "layer0_ffn")(ffn) + att
                                          + _adapter(model, "layer0_parallel")(att))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_scaled_parallel_adds_s_times_the_parallel_change(tiny, batch, randomise):
    model = AdapterModel(tiny("decoder"))
    model.add_adapter("p", BottleneckConfig(kind="parallel"))
    model.add_adapter("s", BottleneckConfig(kind="scaled_parallel", scaling=2.0))
    randomise(model.adapters["p"], seed=5)
    model.adapters["s"].load_state_dict(model.adapters["p"].state_dict())
    mlp, inputs = model.base.model.layers[0].mlp, batch("decoder")
    outs = {}
    with torch.no_grad():
        for route in (None, "p", "s"):
            model.set_active(route)
            outs[route] = _layer_io(mlp, lambda: model(**inputs))
    assert all(torch.equal(outs[r][0][0], outs[None][0][0]) for r in ("p", "s"))  # same FFN input
    x, base = outs[None][0][0], outs[None][2]
    assert torch.equal(model.adapters["s"]["layer0_parallel"](x), 2 * model.adapters["p"]["layer0_parallel"](x))
    torch.testing.assert_close(outs["s"][2] - base, 2 * (outs["p"][2] - base), rtol=0, atol=1e-6)
    assert not torch.allclose(outs["p"][2], base)


def test_config_defaults_and_refusals():
    assert BottleneckConfig(kind="scaled_parallel").scaling == 4.0
    assert BottleneckConfig(kind="parallel").scaling == 1.0
    with pytest.raises(ValidationError, match="'scaled_parallel' only"):
        BottleneckConfig(kind="pfeiffer", scaling=4.0)
    with pytest.raises(ValidationError):
        BottleneckConfig(kind="lora")


def test_unsupported_architecture_is_a_one_line_error_naming_the_supported():
    from transformers import GPT2Config, GPT2LMHeadModel

    base = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=32, n_positions=16,
                                      bos_token_id=0, eos_token_id=0))
    with pytest.raises(UserError, match=r"'gpt2'.*supported: bert, llama, t5") as err:
        AdapterModel(base)
    assert "\n" not in str(err.value)
    assert all(p.requires_grad for p in base.parameters())  # refused before freezing anything
