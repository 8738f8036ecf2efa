"""A frozen Hugging Face model carrying named bottleneck adapters, used like the model itself.

This is peft's config-plus-tuner pattern for the method peft lacks: `add_adapter(name,
BottleneckConfig(...))`, choose the active adapter(s), train only those, save and load
each one as its own folder. Forward hooks (see `routing.py`) insert the adapters, so
`forward`, `generate` and everything that takes a transformers model work unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from adaptlab.adapt.bottleneck import storage
from adaptlab.adapt.bottleneck.batching import batch_size, repeat_inputs, split_output
from adaptlab.adapt.bottleneck.config import BottleneckConfig, build_adapters
from adaptlab.adapt.bottleneck.placement import find_sites, site_keys
from adaptlab.adapt.bottleneck.routing import Route, Router
from adaptlab.errors import UserError

NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    @property
    def share(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"trainable params: {self.trainable:,} || all params: {self.total:,} || trainable: {self.share:.2%}"


class AdapterModel(nn.Module):
    """`base` frozen, plus named adapters; the active ones route the batch and are the trainable ones."""

    def __init__(self, base: PreTrainedModel):
        super().__init__()
        sites = find_sites(base)  # refuses unsupported architectures before anything changes
        self.base = base.requires_grad_(False)
        self.adapters = nn.ModuleDict()
        self.configs: dict[str, BottleneckConfig] = {}
        self._site_keys = site_keys(sites)
        self._router = Router(self.adapters)
        self._handles = self._router.attach(sites)

    def __getattr__(self, name: str) -> Any:
        """Anything not ours (config, can_generate, device...) is the base model's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base":
                raise
            return getattr(self.base, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.base(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """The base model's generate, through the active adapter(s)."""
        return self.base.generate(*args, **kwargs)

    def add_adapter(self, name: str, config: BottleneckConfig | None = None) -> None:
        """A new adapter that starts as the identity; inactive (and frozen) until set_active."""
        config = config or BottleneckConfig()
        self._install(name, config, build_adapters(self._site_keys, self.base.config.hidden_size, config))

    def _install(self, name: str, config: BottleneckConfig, adapters: nn.ModuleDict) -> None:
        if not NAME.fullmatch(name):
            raise UserError(f"adapter name {name!r}: use letters, digits, '_' and '-'")
        if name in self.adapters:
            raise UserError(f"an adapter named {name!r} already exists; added: {', '.join(self.adapters)}")
        weight = self.base.get_input_embeddings().weight
        self.adapters[name] = adapters.to(device=weight.device, dtype=weight.dtype).requires_grad_(False)
        self.configs[name] = config

    @property
    def route(self) -> Route:
        """The active adapter name, one name (or None) per batch row, or None for the bare base."""
        return self._router.route

    def set_active(self, route: str | Sequence[str | None] | None) -> None:
        """Route every row through one adapter, each row through its own (a list), or none.

        Exactly the adapters named here require grad afterwards, so an optimizer over
        `trainable_parameters()` trains them and leaves every other weight alone.
        """
        self._router.set(route)
        active = self._router.active_names()
        for name, adapters in self.adapters.items():
            adapters.requires_grad_(name in active)

    @contextmanager
    def active(self, route: str | Sequence[str | None] | None) -> Iterator[AdapterModel]:
        """set_active for the duration of a block, then back to the previous route."""
        previous = self.route
        self.set_active(route)
        try:
            yield self
        finally:
            self.set_active(previous)

    def forward_each(self, names: Sequence[str | None], **inputs: Any) -> dict[str | None, ModelOutput]:
        """One output per adapter (None: the bare base) for the same inputs, in one forward pass:
        the batch is repeated once per name and each copy routed through its adapter."""
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise UserError(f"forward_each needs distinct adapter names (None for the base); got {names}")
        size = batch_size(inputs)
        with self.active([name for name in names for _ in range(size)]):
            output = self.base(**repeat_inputs(inputs, len(names)))
        return dict(zip(names, split_output(output, len(names))))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def parameter_count(self) -> ParameterCount:
        """Trainable (the active adapters) against all parameters, base and every adapter."""
        params = list(self.parameters())
        return ParameterCount(sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))

    def save_adapter(self, name: str, directory: str | Path) -> Path:
        """The named adapter as a folder: adapter.safetensors plus adapter.yaml."""
        if name not in self.adapters:
            raise UserError(f"no adapter named {name!r}; added: {', '.join(self.adapters) or 'none'}")
        settings = storage.Settings(name, self.configs[name], storage.BaseFingerprint.of(self.base))
        return storage.save(Path(directory), settings, self.adapters[name])

    def load_adapter(self, directory: str | Path, name: str | None = None) -> str:
        """Add a saved adapter (under its saved name unless `name` is given); refuses another base's."""
        directory = Path(directory)
        settings = storage.read_settings(directory)
        differences = settings.base.differences(storage.BaseFingerprint.of(self.base))
        if differences:
            raise UserError(f"{directory}: adapter {settings.name!r} was made for another base model "
                            f"({'; '.join(differences)})")
        weights = storage.read_weights(directory)
        adapters = build_adapters(self._site_keys, self.base.config.hidden_size, settings.config)
        mismatch = storage.weights_mismatch(adapters, weights)
        if mismatch:
            raise UserError(f"{directory / storage.WEIGHTS}: weights do not match its settings ({mismatch})")
        adapters.load_state_dict(weights)
        name = name or settings.name
        self._install(name, settings.config, adapters)
        return name

    def unload(self) -> PreTrainedModel:
        """Remove the hooks and hand back the base model, as it was (still frozen)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return self.base
