"""Prefix and prompt tuning that still shape what the model generates.

Why: transformers 5 renamed the generation cache `past_key_values` to `cache`, and peft
(0.21) still reads and writes the old name while it prepares each generation step. Its
prefix-tuning step puts the learned prefix under `past_key_values` beside transformers'
own empty `cache`, and the model keeps `cache` and silently drops the prefix; its
prompt-tuning step never sees the cache, so it prepends the virtual tokens again on every
step. Either way `generate` answers as if no adapter were there, while the training
forward (no cache) uses it: evaluation would credit the base model's answers to the adapter.

`keep_prompt_in_generation` gives peft's step the cache under the name it reads and hands
the model what peft chose under the name the model reads. Nothing changes for other
adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

OLD, NEW = "past_key_values", "cache"


def _renamed(inputs: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old in inputs:
        inputs[new] = inputs.pop(old)
    return inputs


def has_virtual_tokens(model: object) -> bool:
    """A peft prefix- or prompt-tuned model: what it runs on is more than the prompt's tokens."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


def keep_prompt_in_generation(model: torch.nn.Module) -> torch.nn.Module:
    """`model` (a PeftModel) with its generation steps speaking both cache names,
    when its adapter is a prompt-learning one (prefix, prompt tuning); otherwise untouched."""
    base_prepare = getattr(model, "base_model_prepare_inputs_for_generation", None)
    if not has_virtual_tokens(model) or base_prepare is None:
        return model
    peft_prepare: Callable[..., dict[str, Any]] = model.prepare_inputs_for_generation

    def base_step(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return _renamed(base_prepare(*args, **kwargs), NEW, OLD)

    def step(*args: Any, **kwargs: Any) -> dict[str, Any]:
        # peft calls base_model_prepare_inputs_for_generation inside its step and restores
        # the base model's own after generate: the rename lives only within the call.
        model.base_model_prepare_inputs_for_generation = base_step
        try:
            inputs = peft_prepare(*args, **kwargs)
        finally:
            model.base_model_prepare_inputs_for_generation = base_prepare
        return _renamed(inputs, OLD, NEW)

    model.prepare_inputs_for_generation = step
    return model
