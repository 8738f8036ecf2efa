"""An adapter folder: weights in safetensors, settings and the base's fingerprint in YAML.

The fingerprint (architecture, sizes, a hash of a few base weights) is what lets
loading refuse an adapter trained on another base, instead of silently producing
nonsense. Nothing here unpickles: weights come only from safetensors.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import yaml
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel

from adaptlab.adapt.bottleneck.config import BottleneckConfig
from adaptlab.adapt.bottleneck.placement import find_layers
from adaptlab.errors import UserError
from adaptlab.fileio import publish_file, write_file

WEIGHTS = "adapter.safetensors"
SETTINGS = "adapter.yaml"
FORMAT = "adaptlab-bottleneck-adapter/1"
HASHED_ROWS = 16


@dataclass(frozen=True)
class BaseFingerprint:
    """What an adapter assumes about its base model."""

    architecture: str
    hidden_size: int
    num_layers: int  # layers that carry adapters: encoder plus decoder blocks for T5
    vocab_size: int
    weights_sha256: str  # first rows of the input embeddings and of the last layer's first weight

    @classmethod
    def of(cls, model: PreTrainedModel) -> BaseFingerprint:
        layers = find_layers(model)
        digest = hashlib.sha256()
        for weight in (model.get_input_embeddings().weight, next(layers[-1][1].parameters())):
            digest.update(weight[:HASHED_ROWS].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return cls(type(model).__name__, model.config.hidden_size, len(layers), model.config.vocab_size,
                   digest.hexdigest()[:16])

    def differences(self, base: BaseFingerprint) -> list[str]:
        """'field: adapter X, this base Y' for each field where `base` differs from this one."""
        return [f"{f.name}: adapter {getattr(self, f.name)}, this base {getattr(base, f.name)}"
                for f in fields(self) if getattr(self, f.name) != getattr(base, f.name)]


@dataclass(frozen=True)
class Settings:
    name: str
    config: BottleneckConfig
    base: BaseFingerprint


def save(directory: Path, settings: Settings, weights: nn.ModuleDict) -> Path:
    """Write the folder; the YAML goes last, so a folder with YAML always has its weights."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.state_dict().items()}
    with publish_file(directory / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    data = {"format": FORMAT, "name": settings.name, "config": settings.config.model_dump(),
            "base": asdict(settings.base)}
    write_file(directory / SETTINGS, yaml.safe_dump(data, sort_keys=False))
    return directory


def read_settings(directory: Path) -> Settings:
    path = Path(directory) / SETTINGS
    if not path.is_file():
        raise UserError(f"{directory}: not a bottleneck adapter folder (no {SETTINGS})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    found = data.get("format") if isinstance(data, dict) else None
    if found != FORMAT:
        raise UserError(f"{path}: format {found!r}; accepted: {FORMAT}")
    try:
        return Settings(str(data["name"]), BottleneckConfig(**data["config"]), BaseFingerprint(**data["base"]))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{path}: config.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path}: missing or unexpected field ({exc}); expected name, config, base") from None


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise UserError(f"{directory}: adapter weights missing (no {WEIGHTS})")
    return load_file(str(path))


def weights_mismatch(adapters: nn.Module, weights: dict[str, torch.Tensor]) -> str | None:
    """The first tensor that is missing, unexpected or of another shape than the settings build."""
    expected = {k: tuple(v.shape) for k, v in adapters.state_dict().items()}
    for key in sorted(expected.keys() | weights.keys()):
        if key not in weights:
            return f"{key} missing"
        if key not in expected:
            return f"unexpected {key}"
        if tuple(weights[key].shape) != expected[key]:
            return f"{key} has shape {tuple(weights[key].shape)}, the settings give {expected[key]}"
    return None
