"""Every way of adapting a base's weights, registered once: the CLI's `--method`, the run config,
training, run loading, serving and the study all read this table rather than branch by hand.

As peft registers each tuner (`register_peft_method(name=..., config_cls=..., model_cls=...)`), a
method's folder calls `register_method` with its settings (a pydantic model tagged by `name`),
how it wraps a base for training and how it saves what it trained; the run kind it writes
(`adaptlab.yaml`'s `kind`) is registered beside it with how such a folder loads on its base.
A new method is one folder and one line in `BUILTIN`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from adaptlab.errors import UserError

if TYPE_CHECKING:
    from torch import nn

    from adaptlab.runs import LoadedModel

# The packages whose import registers the built-in methods, in the order `--method` lists them.
BUILTIN = ("adaptlab.adapt.full", "adaptlab.adapt.peft_methods", "adaptlab.adapt.bottleneck", "adaptlab.adapt.loha")


class MethodSettings(BaseModel):
    """A method's knobs; `name` is the method (the tag of the run config's union)."""

    model_config = ConfigDict(extra="forbid")

    name: str


@dataclass(frozen=True)
class Method:
    """One method. `wrap(model, settings, base)` is the model to train: `model` (the loaded base's
    weights) itself for full training, else under a fresh adapter; `base` is the loaded base (its
    folder and family). `save(model, settings, folder)` writes the artifact; its runs are of `run_kind`."""

    name: str
    settings: type[MethodSettings]
    run_kind: str
    summary: str
    wrap: Callable[[nn.Module, Any, LoadedModel], nn.Module]
    save: Callable[[nn.Module, Any, Path], None]
    base_quantization: str | None = None  # how the frozen base is held while training (QLoRA: nf4)
    lr: float | None = None  # the learning rate the family is usually given (the study's default for it)

    @property
    def frozen_base(self) -> bool:
        """Whether it trains an artifact on top of a base that stays as it is (so checkpoints keep only it)."""
        return self.run_kind != "hf"


@dataclass(frozen=True)
class RunKind:
    """A kind of run folder over a base: `load(base, artifact_dir, manifest)` is the model it serves;
    `merge(model)`, where the kind has one, folds the artifact into a plain transformers model."""

    name: str
    load: Callable[[LoadedModel, Path, dict[str, Any]], nn.Module]
    merge: Callable[[nn.Module], Any] | None = None


_METHODS: dict[str, Method] = {}
_RUN_KINDS: dict[str, RunKind] = {}
_loaded = False


def register_method(method: Method) -> None:
    if method.name in _METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    _METHODS[method.name] = method


def register_run_kind(kind: RunKind) -> None:
    if kind.name in _RUN_KINDS:
        raise ValueError(f"run kind {kind.name!r} is registered twice")
    _RUN_KINDS[kind.name] = kind


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for package in BUILTIN:
            importlib.import_module(package)


def _rank(method: Method) -> int:
    """Where a method's package stands in BUILTIN (others after), whatever order they were imported in."""
    module = method.settings.__module__
    return next((i for i, package in enumerate(BUILTIN) if module == package or module.startswith(package + ".")),
                len(BUILTIN))


def methods() -> dict[str, Method]:
    """Every registered method by name, in BUILTIN's order, then any registered by other packages."""
    _load_builtin()
    return {m.name: m for m in sorted(_METHODS.values(), key=_rank)}


def method(name: str) -> Method:
    _load_builtin()
    if name not in _METHODS:
        raise UserError(f"--method {name!r}: unknown; accepted: {', '.join(methods())}")
    return _METHODS[name]


def run_kinds() -> dict[str, RunKind]:
    """Every kind of run folder over a base that the methods registered (`hf`, a plain model folder,
    is `runs`' own)."""
    _load_builtin()
    return dict(_RUN_KINDS)


def tagged(value: Any) -> Any:
    """`method: lora` is short for `method: {name: lora}`."""
    return {"name": value} if isinstance(value, str) else value


def settings_union() -> Any:
    """The type of a run config's `method`: every method's settings, told apart by `name`."""
    classes = tuple(dict.fromkeys(m.settings for m in methods().values()))
    return Annotated[Union[classes], Field(discriminator="name"), BeforeValidator(tagged)]  # noqa: UP007


def settings_of(name: str, given: dict[str, Any], knobs: dict[str, Any] | None = None) -> MethodSettings:
    """`name`'s settings: `knobs` (from a settings file) under the options given by flag (None: not
    given). A flag this method does not take is refused, naming the methods that do."""
    from adaptlab.config import validate

    chosen = method(name)
    unused = [key for key, value in given.items() if value is not None and key not in chosen.settings.model_fields]
    if unused:
        where = "; ".join(f"{_flag(key)} applies to {', '.join(takers(key))}" for key in unused)
        raise UserError(f"{', '.join(map(_flag, unused))}: not used by --method {name} ({where})")
    values = {key: value for key, value in given.items() if value is not None}
    return validate(chosen.settings, {**(knobs or {}), **values, "name": name}, source=f"--method {name}")


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def takers(option: str) -> list[str]:
    """The methods whose settings have `option`."""
    return [m.name for m in methods().values() if option in m.settings.model_fields]

