"""Adapting a base model's weights: bottleneck adapters (own), LoRA and friends (peft)."""

from adaptlab.adapt.adapter_model import AdapterModel, ParameterCount
from adaptlab.adapt.bottleneck import BottleneckConfig

__all__ = ["AdapterModel", "BottleneckConfig", "ParameterCount"]
