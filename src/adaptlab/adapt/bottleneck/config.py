"""Bottleneck adapters: the settings and the one small module every kind shares.

An adapter is a down-projection to r, a nonlinearity, an up-projection back to the
hidden size, times a scale. The kinds differ only in *where* the module sits
(`placement.py`) and in the scale, so there is one module, parameterised by kind.
The up-projection starts at zero, so a fresh adapter adds exactly nothing and the
base model's outputs are unchanged until training moves it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

Kind = Literal["houlsby", "pfeiffer", "parallel", "scaled_parallel"]
Placement = Literal["attention", "ffn", "parallel"]

# Houlsby et al. 2019: after attention and after the FFN; Pfeiffer et al. 2021: after the FFN;
# He et al. 2022: beside the FFN, reading its input, optionally scaled.
PLACEMENTS: dict[str, tuple[Placement, ...]] = {
    "houlsby": ("attention", "ffn"),
    "pfeiffer": ("ffn",),
    "parallel": ("parallel",),
    "scaled_parallel": ("parallel",),
}
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
DEFAULT_SCALED_PARALLEL_S = 4.0  # He et al. 2022, Table 4


class BottleneckShape(BaseModel):
    """The module's knobs, whatever its kind."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, gt=0, description="bottleneck width")
    activation: Literal["relu", "gelu", "silu"] = "relu"
    scaling: float | None = Field(default=None, gt=0, description="s for scaled_parallel; default 4.0")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class BottleneckConfig(BottleneckShape):
    """How one named adapter is built; saved beside its weights as YAML."""

    kind: Kind = "pfeiffer"

    @model_validator(mode="after")
    def _scaling_only_when_scaled(self) -> BottleneckConfig:
        if self.kind == "scaled_parallel":
            self.scaling = DEFAULT_SCALED_PARALLEL_S if self.scaling is None else self.scaling
        elif self.scaling not in (None, 1.0):
            raise ValueError(f"scaling {self.scaling} applies to kind 'scaled_parallel' only, not {self.kind!r}")
        else:
            self.scaling = 1.0
        return self

    @property
    def placements(self) -> tuple[Placement, ...]:
        return PLACEMENTS[self.kind]


class BottleneckAdapter(nn.Module):
    """scale * up(dropout(act(down(x)))): the change an adapter adds at its site."""

    def __init__(self, hidden: int, config: BottleneckConfig):
        super().__init__()
        self.down = nn.Linear(hidden, config.r)
        self.act = ACTIVATIONS[config.activation]()
        self.dropout = nn.Dropout(config.dropout)
        self.up = nn.Linear(config.r, hidden)
        self.scale = float(config.scaling)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.up(self.dropout(self.act(self.down(x))))


def build_adapters(sites: dict[Placement, list[str]], hidden: int, config: BottleneckConfig) -> nn.ModuleDict:
    """One module per site key of each of the config's placements: one named adapter's weights."""
    return nn.ModuleDict({key: BottleneckAdapter(hidden, config)
                          for placement in config.placements for key in sites[placement]})
