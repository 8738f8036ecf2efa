"""Fold a LoRA/DoRA adapter into its base: the result is a plain transformers model that
transformers (and vLLM, TGI...) load with no peft at all."""

from __future__ import annotations

from typing import Any

MERGEABLE = ("LORA",)  # peft's type for LoRA and DoRA


def merged(model: Any) -> Any:
    """The base with the adapter's update added to its weights; a ValueError says why not."""
    kind = model.peft_config["default"].peft_type.value
    if kind not in MERGEABLE:
        raise ValueError(f"only LoRA/DoRA adapters merge into the base weights; this one is {kind}")
    return model.merge_and_unload()
