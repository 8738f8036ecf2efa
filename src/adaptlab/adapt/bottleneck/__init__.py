"""Bottleneck adapters (Houlsby, Pfeiffer, parallel, scaled parallel), adaptlab's own since peft lacks
them, registered as adaptlab methods. Their runs (`kind: bottleneck`) hold adapter.safetensors and
adapter.yaml over a base; `AdapterModel` carries several named ones and routes between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from pydantic import Field, model_validator

from adaptlab.adapt.bottleneck.config import BottleneckConfig, BottleneckShape, Kind
from adaptlab.adapt.bottleneck.model import NAME, AdapterModel, ParameterCount
from adaptlab.registry import Method, MethodSettings, RunKind, register_method, register_run_kind

__all__ = ["AdapterModel", "BottleneckConfig", "BottleneckSettings", "ParameterCount"]

SUMMARIES = {
    "houlsby": "bottleneck adapters after attention and after the feed-forward (Houlsby et al. 2019)",
    "pfeiffer": "a bottleneck adapter after the feed-forward (Pfeiffer et al. 2021)",
    "parallel": "a bottleneck adapter beside the feed-forward (He et al. 2022)",
    "scaled_parallel": "a parallel adapter whose output is scaled (He et al. 2022)",
}


class BottleneckSettings(MethodSettings, BottleneckShape):
    """A bottleneck adapter of kind `name`, trained on the frozen base under `adapter_name`."""

    name: Kind = "pfeiffer"
    adapter_name: str = Field(default="default", pattern=NAME.pattern, description="the adapter's name in its folder")

    @model_validator(mode="after")
    def _builds(self) -> BottleneckSettings:
        self.config()  # its kind and knobs agree (scaling only for scaled_parallel)
        return self

    def config(self) -> BottleneckConfig:
        return BottleneckConfig(kind=self.name, **self.model_dump(include=set(BottleneckShape.model_fields)))


def wrap(model: Any, settings: BottleneckSettings, base: Any) -> AdapterModel:
    wrapped = AdapterModel(model)
    wrapped.add_adapter(settings.adapter_name, settings.config())
    wrapped.set_active(settings.adapter_name)
    return wrapped


def save(model: AdapterModel, settings: BottleneckSettings, folder: Path) -> None:
    model.save_adapter(settings.adapter_name, folder)


def load(base: Any, adapter_dir: Path, manifest: dict[str, Any]) -> AdapterModel:
    model = AdapterModel(base.model)
    model.set_active(model.load_adapter(adapter_dir))
    return model.eval()


register_run_kind(RunKind("bottleneck", load))
for kind in get_args(Kind):  # 5e-3 measured best on the study's base (benchmarks/finetune.py)
    register_method(Method(kind, BottleneckSettings, "bottleneck", SUMMARIES[kind], wrap, save, lr=5e-3))
