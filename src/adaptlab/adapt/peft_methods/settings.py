"""The settings users write for peft's methods, each able to say its peft config.

Kept apart from the model code so that reading a run config never imports peft (slow).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from adaptlab.registry import MethodSettings


class PeftSettings(MethodSettings):
    """A method peft implements: `peft_config(task)` is the config `get_peft_model` takes."""

    targets_have_rank: ClassVar[bool] = False  # whether `r` must fit inside every adapted layer

    def peft_config(self, task: Any) -> Any:
        raise NotImplementedError

    @property
    def targets(self) -> list[str] | None:
        """The module names the method adapts (None: peft's default for the architecture)."""
        return getattr(self, "target_modules", None)


class LoraSettings(PeftSettings):
    """LoRA (Hu et al. 2021): a low-rank update beside each adapted layer; DoRA splits it into
    magnitude and direction; QLoRA trains it over a frozen 4-bit base."""

    targets_have_rank: ClassVar[bool] = True

    name: Literal["lora", "dora", "qlora"] = "lora"
    r: int = Field(default=8, gt=0, description="rank")
    alpha: float = Field(default=16.0, gt=0, description="scaling numerator (scale = alpha / r)")
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | None = Field(default=None, description="module names; default: peft's for the model")

    def peft_config(self, task: Any) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, use_dora=self.name == "dora", task_type=task)


class IA3Settings(PeftSettings):
    """IA3 (Liu et al. 2022): learned vectors that rescale keys, values and feed-forward activations."""

    name: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = Field(default=None, description="module names; default: peft's for the model")

    def peft_config(self, task: Any) -> Any:
        from peft import IA3Config

        targets = self.target_modules
        return IA3Config(target_modules=targets, feedforward_modules=[] if targets else None, task_type=task)


class PromptLearningSettings(PeftSettings):
    """Prefix tuning (Li & Liang 2021: learned keys and values at every layer) and prompt tuning
    (Lester et al. 2021: learned input embeddings)."""

    name: Literal["prefix", "prompt"] = "prefix"
    virtual_tokens: int = Field(default=16, gt=0, description="length of the learned prefix or prompt")

    def peft_config(self, task: Any) -> Any:
        from peft import PrefixTuningConfig, PromptTuningConfig

        cls = PrefixTuningConfig if self.name == "prefix" else PromptTuningConfig
        return cls(num_virtual_tokens=self.virtual_tokens, task_type=task)
