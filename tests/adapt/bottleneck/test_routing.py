"""Several named adapters on one frozen base: one at a time, all at once, or one per row."""

from __future__ import annotations

import pytest
import torch

from adaptlab.adapt.bottleneck import AdapterModel, BottleneckConfig
from adaptlab.errors import UserError

FAMILIES = ["decoder", "encoder", "encoder-decoder"]
CLOSE = {"rtol": 1e-5, "atol": 1e-6}  # batch shape may change the float summation order, nothing more


def _two_adapters(tiny, randomise, family: str) -> AdapterModel:
    model = AdapterModel(tiny(family))
    model.add_adapter("a", BottleneckConfig(kind="houlsby"))
    model.add_adapter("b", BottleneckConfig(kind="scaled_parallel"))
    randomise(model.adapters["a"], seed=1)
    randomise(model.adapters["b"], seed=2)
    return model


def _logits(model: AdapterModel, route, inputs) -> torch.Tensor:
    with model.active(route), torch.no_grad():
        return model(**inputs).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_each_named_adapter_gives_its_own_output_equal_to_it_alone(tiny, batch, randomise, family):
    model, inputs = _two_adapters(tiny, randomise, family), batch(family)
    base, a, b = (_logits(model, route, inputs) for route in (None, "a", "b"))
    assert not torch.allclose(a, b) and not torch.allclose(a, base) and not torch.allclose(b, base)
    for name, together in (("a", a), ("b", b)):
        alone = AdapterModel(tiny(family))
        alone.add_adapter(name, model.configs[name])
        alone.adapters[name].load_state_dict(model.adapters[name].state_dict())
        assert torch.equal(_logits(alone, name, inputs), together)


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_each_runs_every_adapter_in_one_pass(tiny, batch, randomise, family):
    model, inputs = _two_adapters(tiny, randomise, family), batch(family)
    calls = []
    handle = model.base.register_forward_hook(lambda m, args, out: calls.append(out.logits.shape[0]))
    with torch.no_grad():
        each = model.forward_each(["a", None, "b"], **inputs)
    handle.remove()
    assert calls == [3 * inputs["input_ids"].shape[0]]  # one forward, the batch three times over
    assert list(each) == ["a", None, "b"]
    for name, output in each.items():
        torch.testing.assert_close(output.logits, _logits(model, name, inputs), **CLOSE)
    assert model.route is None  # the previous route is back


@pytest.mark.parametrize("family", FAMILIES)
def test_a_mixed_batch_routes_each_row_through_its_adapter(tiny, batch, randomise, family):
    model, inputs = _two_adapters(tiny, randomise, family), batch(family, rows=4)
    names = ["b", None, "a", "b"]
    mixed = _logits(model, names, inputs)
    single = {name: _logits(model, name, inputs) for name in set(names)}
    for row, name in enumerate(names):
        torch.testing.assert_close(mixed[row], single[name][row], **CLOSE)


def test_a_mixed_route_trains_exactly_the_adapters_it_names(tiny, randomise):
    model = _two_adapters(tiny, randomise, "decoder")
    model.add_adapter("c")
    model.set_active(["a", "b", None])
    trainable = {id(p) for p in model.trainable_parameters()}
    assert trainable == {id(p) for name in ("a", "b") for p in model.adapters[name].parameters()}


def test_the_context_manager_restores_route_and_trainability(tiny, randomise):
    model = _two_adapters(tiny, randomise, "decoder")
    model.set_active("a")
    with model.active("b"):
        assert model.route == "b"
        assert all(p.requires_grad for p in model.adapters["b"].parameters())
        assert not any(p.requires_grad for p in model.adapters["a"].parameters())
    assert model.route == "a"
    assert all(p.requires_grad for p in model.adapters["a"].parameters())
    assert not any(p.requires_grad for p in model.adapters["b"].parameters())


def test_routing_mistakes_are_one_line_errors(tiny, batch, randomise):
    model, inputs = _two_adapters(tiny, randomise, "decoder"), batch("decoder", rows=3)
    with pytest.raises(UserError, match="no adapter named 'c'; added: a, b"):
        model.set_active("c")
    with pytest.raises(UserError, match="names 2 rows but the batch has 3"):
        _logits(model, ["a", "b"], inputs)
    with pytest.raises(UserError, match="already exists"):
        model.add_adapter("a")
    with pytest.raises(UserError, match="adapter name 'x.y'"):
        model.add_adapter("x.y")
    with pytest.raises(UserError, match="distinct adapter names"):
        model.forward_each(["a", "a"], **inputs)


def test_unload_gives_back_the_untouched_base(tiny, batch, randomise):
    inputs = batch("decoder")
    with torch.no_grad():
        before = tiny("decoder")(**inputs).logits
    model = _two_adapters(tiny, randomise, "decoder")
    model.set_active("a")
    base = model.unload()
    with torch.no_grad():
        assert torch.equal(base(**inputs).logits, before)
