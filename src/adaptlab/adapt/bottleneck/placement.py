"""Where adapters sit in each supported architecture.

A small table per `config.model_type` names, relative to one transformer layer, the
module whose output is the attention sub-layer's change, the one whose output is the
feed-forward sub-layer's change, and where a parallel adapter reads the FFN's input.
The hook modes themselves (how a change is added) live in `routing.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn
from transformers import PreTrainedModel

from adaptlab.adapt.bottleneck.config import Placement
from adaptlab.errors import UserError

# output:   add adapter(y) to the module's output y (first element if a tuple): sequential adapters.
# beside:   add adapter(x) to the module's output, x its first input: a parallel adapter next to the FFN.
# residual: add adapter(r) to the module's second input r, the residual that a post-norm block adds
#           before its LayerNorm (BERT); the same sum as beside the FFN, since addition commutes.
HookMode = Literal["output", "beside", "residual"]


@dataclass(frozen=True)
class Hook:
    path: str  # relative to a layer; a negative index counts from the end of a ModuleList
    mode: HookMode


@dataclass(frozen=True)
class Layout:
    stacks: tuple[tuple[str, str], ...]  # (site-key prefix, path from model.base_model to the layer list)
    hooks: dict[Placement, Hook]


LAYOUTS: dict[str, Layout] = {
    "llama": Layout((("layer", "layers"),),
                    {"attention": Hook("self_attn", "output"), "ffn": Hook("mlp", "output"),
                     "parallel": Hook("mlp", "beside")}),
    "bert": Layout((("layer", "encoder.layer"),),
                   {"attention": Hook("attention.output.dense", "output"), "ffn": Hook("output.dense", "output"),
                    "parallel": Hook("output", "residual")}),
    "t5": Layout((("encoder", "encoder.block"), ("decoder", "decoder.block")),
                 {"attention": Hook("layer.0.SelfAttention", "output"),
                  "ffn": Hook("layer.-1.DenseReluDense", "output"),
                  "parallel": Hook("layer.-1.DenseReluDense", "beside")}),
}


@dataclass(frozen=True)
class Site:
    """One hook point: `key` names the adapter module that acts there, e.g. 'layer0_ffn'."""

    key: str
    placement: Placement
    module: nn.Module
    mode: HookMode


def _layout(model: PreTrainedModel) -> Layout:
    model_type = getattr(model.config, "model_type", type(model).__name__)
    if model_type not in LAYOUTS:
        raise UserError(f"bottleneck adapters do not support architecture {model_type!r} ({type(model).__name__}); "
                        f"supported: {', '.join(sorted(LAYOUTS))}")
    return LAYOUTS[model_type]


def _submodule(root: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        root = root[int(part)] if part.lstrip("-").isdigit() else getattr(root, part)
    return root


def find_layers(model: PreTrainedModel) -> list[tuple[str, nn.Module]]:
    """Every transformer layer the adapters attach to, named by stack and index ('layer0', 'decoder1')."""
    body = model.base_model
    return [(f"{prefix}{i}", layer) for prefix, path in _layout(model).stacks
            for i, layer in enumerate(_submodule(body, path))]


def find_sites(model: PreTrainedModel) -> list[Site]:
    """All hook points of the model, for every placement of every layer."""
    hooks = _layout(model).hooks
    return [Site(f"{name}_{placement}", placement, _submodule(layer, hook.path), hook.mode)
            for name, layer in find_layers(model) for placement, hook in hooks.items()]


def site_keys(sites: list[Site]) -> dict[Placement, list[str]]:
    keys: dict[Placement, list[str]] = {"attention": [], "ffn": [], "parallel": []}
    for site in sites:
        keys[site.placement].append(site.key)
    return keys
