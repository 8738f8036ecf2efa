"""LoRA, DoRA, IA3, prefix and prompt tuning through `peft`: settings in, a PeftModel out.

peft does the work; this module owns the settings users write, checks them against the
model (an unknown target module lists the valid ones; a rank larger than a layer says
which), and keeps peft's import where it is used (it is slow to import).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel

from adaptlab.adapt.peft_generation import keep_prompt_in_generation
from adaptlab.errors import UserError

PeftMethod = Literal["lora", "dora", "qlora", "ia3", "prefix", "prompt"]
LORA_METHODS = ("lora", "dora", "qlora")


class AdapterSettings(BaseModel):
    """A parameter-efficient method and its knobs (those a method does not use are ignored)."""

    model_config = ConfigDict(extra="forbid")

    method: PeftMethod = "lora"
    r: int = Field(default=8, gt=0, description="LoRA/DoRA/QLoRA rank")
    alpha: float = Field(default=16.0, gt=0, description="LoRA/DoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | None = Field(default=None, description="module names; default: peft's for the model")
    num_virtual_tokens: int = Field(default=16, gt=0, description="prefix/prompt tuning length")


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Short names of the model's linear layers: what target_modules may name."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def _check_targets(model: torch.nn.Module, settings: AdapterSettings) -> None:
    if settings.target_modules is None:
        return
    valid = linear_module_names(model)
    for target in settings.target_modules:
        if target not in valid:
            raise UserError(f"adapter.target_modules: unknown module {target!r}; valid: {', '.join(valid)}")
    if settings.method in LORA_METHODS:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in settings.target_modules:
                limit = min(module.in_features, module.out_features)
                if settings.r > limit:
                    raise UserError(f"adapter.r {settings.r} is larger than layer {name} "
                                    f"({module.in_features}x{module.out_features}); use r <= {limit}")


def peft_config(settings: AdapterSettings, model: PreTrainedModel):
    """The peft config for a method, checked against the model."""
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType

    _check_targets(model, settings)
    task = TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM
    if settings.method in LORA_METHODS:
        return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                          target_modules=settings.target_modules, use_dora=settings.method == "dora", task_type=task)
    if settings.method == "ia3":
        targets = settings.target_modules
        return IA3Config(target_modules=targets, feedforward_modules=[] if targets else None, task_type=task)
    cls = PrefixTuningConfig if settings.method == "prefix" else PromptTuningConfig
    return cls(num_virtual_tokens=settings.num_virtual_tokens, task_type=task)


def wrap_with_adapter(model: PreTrainedModel, settings: AdapterSettings) -> torch.nn.Module:
    """The base frozen under a fresh adapter of the configured method."""
    from peft import get_peft_model

    try:
        return keep_prompt_in_generation(get_peft_model(model, peft_config(settings, model)))
    except ValueError as exc:  # peft's own refusals (no default targets for an architecture, ...)
        raise UserError(f"adapter.{settings.method}: {str(exc).splitlines()[0]}") from None


def load_adapter(model: PreTrainedModel, adapter_dir) -> torch.nn.Module:
    """A saved PEFT adapter folder on its base (plain `PeftModel.from_pretrained`)."""
    from peft import PeftModel

    return keep_prompt_in_generation(PeftModel.from_pretrained(model, adapter_dir).eval())
