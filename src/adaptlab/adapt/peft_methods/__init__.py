"""The methods peft implements, registered as adaptlab methods: LoRA, DoRA, QLoRA, IA3, prefix and
prompt tuning. Their runs are peft adapter folders (`kind: peft`), which `PeftModel.from_pretrained`
loads with no adaptlab code. peft itself is imported only when a model is wrapped or loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adaptlab.adapt.peft_methods.settings import IA3Settings, LoraSettings, PeftSettings, PromptLearningSettings
from adaptlab.registry import Method, RunKind, register_method, register_run_kind

SUMMARIES = {
    "lora": "LoRA: a low-rank update beside each adapted layer",
    "dora": "DoRA: LoRA split into magnitude and direction",
    "qlora": "QLoRA: LoRA over the base held in 4-bit NF4 (bitsandbytes)",
    "ia3": "IA3: learned rescaling of keys, values and feed-forward activations",
    "prefix": "prefix tuning: learned keys and values at every layer",
    "prompt": "prompt tuning: learned input embeddings before the prompt",
}


def wrap(model: Any, settings: PeftSettings, base: Any) -> Any:
    """`model` frozen under a fresh adapter (QLoRA: the base reloaded in 4-bit first)."""
    from adaptlab.adapt.peft_methods.model import wrap_with_adapter

    if settings.name == "qlora":
        from adaptlab.adapt.peft_methods.qlora import load_4bit
        from adaptlab.errors import UserError

        if base.family != "decoder":
            raise UserError(f"QLoRA here trains causal LMs; base {base.path} is {base.family}")
        model = load_4bit(base.path, next(model.parameters()).device, training=True)
    return wrap_with_adapter(model, settings)


def save(model: Any, settings: PeftSettings, folder: Path) -> None:
    model.save_pretrained(folder)


def load(base: Any, adapter_dir: Path, manifest: dict[str, Any]) -> Any:
    """The adapter folder over its base (held in 4-bit when the run trained it so)."""
    from adaptlab.adapt.peft_methods.model import load_adapter

    model = base.model
    if manifest.get("base_quantization") == "nf4":
        from adaptlab.adapt.peft_methods.qlora import load_4bit

        model = load_4bit(base.path, next(model.parameters()).device)
    return load_adapter(model, adapter_dir)


def merge(model: Any) -> Any:
    from adaptlab.adapt.peft_methods.merge import merged

    return merged(model)


# learning rates: LoRA's family at 5e-3 and prefix tuning at 1e-2 measured best on the study's base
# (benchmarks/finetune.py); IA3 at its paper's 3e-3 (Liu et al. 2022); prompt tuning as prefix tuning
register_run_kind(RunKind("peft", load, merge))
for name, settings, lr in (("lora", LoraSettings, 5e-3), ("dora", LoraSettings, 5e-3), ("qlora", LoraSettings, 5e-3),
                           ("ia3", IA3Settings, 3e-3), ("prefix", PromptLearningSettings, 1e-2),
                           ("prompt", PromptLearningSettings, 1e-2)):
    register_method(Method(name, settings, "peft", SUMMARIES[name], wrap, save,
                           base_quantization="nf4" if name == "qlora" else None, lr=lr))
