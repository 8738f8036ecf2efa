"""Which adapter each example goes through, applied by forward hooks on the base model.

The base model is never edited: hooks on the sites found by `placement.py` ask the
router for the change to add. The route is one adapter name for the whole batch, or
one name (or None, the bare base) per row, so several adapters serve one batch in a
single forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from adaptlab.adapt.bottleneck.placement import Site
from adaptlab.errors import UserError

Route = str | tuple[str | None, ...] | None


class Router:
    """Holds the current route over a model's named adapters and computes each site's change."""

    def __init__(self, adapters: nn.ModuleDict):
        self.adapters = adapters  # name -> ModuleDict(site key -> BottleneckAdapter)
        self.route: Route = None
        self._groups: list[tuple[str, torch.Tensor]] = []

    def set(self, route: str | Sequence[str | None] | None) -> None:
        """Validate and install a route (a sequence is stored as a tuple)."""
        route = route if route is None or isinstance(route, str) else tuple(route)
        names = {route} if isinstance(route, str) else {n for n in route or () if n is not None}
        unknown = sorted(names - set(self.adapters))
        if unknown:
            raise UserError(f"no adapter named {unknown[0]!r}; added: {', '.join(self.adapters) or 'none'}")
        self.route = route
        self._groups = [] if route is None or isinstance(route, str) else [
            (name, torch.tensor([i for i, n in enumerate(route) if n == name])) for name in sorted(names)]

    def active_names(self) -> set[str]:
        route = self.route
        return {route} if isinstance(route, str) else {n for n in route or () if n is not None}

    def delta(self, key: str, x: torch.Tensor) -> torch.Tensor | None:
        """What the routed adapters add at site `key` for input x (batch first); None if nothing."""
        if self.route is None:
            return None
        if isinstance(self.route, str):
            adapters = self.adapters[self.route]
            return adapters[key](x) if key in adapters else None
        if len(self.route) != x.shape[0]:
            raise UserError(f"the adapter route names {len(self.route)} rows but the batch has {x.shape[0]}; "
                            "give one adapter name per example")
        out = None
        for name, rows in self._groups:
            if key in self.adapters[name]:
                rows = rows.to(x.device)
                out = torch.zeros_like(x) if out is None else out
                out = out.index_copy(0, rows, self.adapters[name][key](x.index_select(0, rows)))
        return out

    def attach(self, sites: list[Site]) -> list[RemovableHandle]:
        """Register one hook per site; the handles remove them."""
        handles = []
        for site in sites:
            if site.mode == "residual":
                handles.append(site.module.register_forward_pre_hook(self._residual_hook(site.key)))
            else:
                handles.append(site.module.register_forward_hook(self._output_hook(site.key, site.mode == "beside")))
        return handles

    def _output_hook(self, key: str, beside: bool):
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
            first = output[0] if isinstance(output, tuple) else output
            change = self.delta(key, args[0] if beside else first)
            if change is None:
                return None
            return (first + change, *output[1:]) if isinstance(output, tuple) else first + change
        return hook

    def _residual_hook(self, key: str):
        def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            hidden, residual, *rest = args
            change = self.delta(key, residual)
            return None if change is None else (hidden, residual + change, *rest)
        return hook
