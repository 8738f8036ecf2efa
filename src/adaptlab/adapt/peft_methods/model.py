"""peft's methods on a model: settings in, a PeftModel out; a saved adapter folder back on its base.

peft does the work; this module checks the settings against the model first (an unknown
target module lists the valid ones; a rank larger than a layer says which), and keeps peft's
import where it is used (it is slow to import).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedModel

from adaptlab.adapt.peft_methods.generation import keep_prompt_in_generation
from adaptlab.adapt.peft_methods.settings import PeftSettings
from adaptlab.errors import UserError


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Short names of the model's linear layers: what target_modules may name."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def _check_targets(model: torch.nn.Module, settings: PeftSettings) -> None:
    targets = settings.targets
    if targets is None:
        return
    valid = linear_module_names(model)
    for target in targets:
        if target not in valid:
            raise UserError(f"method.target_modules: unknown module {target!r}; valid: {', '.join(valid)}")
    if settings.targets_have_rank:
        rank = settings.r  # type: ignore[attr-defined]
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets:
                limit = min(module.in_features, module.out_features)
                if rank > limit:
                    raise UserError(f"method.r {rank} is larger than layer {name} "
                                    f"({module.in_features}x{module.out_features}); use r <= {limit}")


def peft_config(settings: PeftSettings, model: PreTrainedModel):
    """The peft config for a method, checked against the model."""
    from peft import TaskType

    _check_targets(model, settings)
    return settings.peft_config(TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM)


def wrap_with_adapter(model: PreTrainedModel, settings: PeftSettings) -> torch.nn.Module:
    """The base frozen under a fresh adapter of the configured method."""
    from peft import get_peft_model

    try:
        return keep_prompt_in_generation(get_peft_model(model, peft_config(settings, model)))
    except ValueError as exc:  # peft's own refusals (no default targets for an architecture, ...)
        raise UserError(f"method {settings.name}: {str(exc).splitlines()[0]}") from None


def load_adapter(model: PreTrainedModel, adapter_dir: Path) -> torch.nn.Module:
    """A saved PEFT adapter folder on its base (plain `PeftModel.from_pretrained`)."""
    from peft import PeftModel

    return keep_prompt_in_generation(PeftModel.from_pretrained(model, adapter_dir).eval())
