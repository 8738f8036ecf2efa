"""LoHa (Hyeon-Woo et al. 2022, from LyCORIS) through peft: each adapted layer's update is the
Hadamard product of two rank-r products, (B1 A1) ⊙ (B2 A2), reaching rank up to r² for twice
LoRA's parameters. Its runs are peft adapter folders, served and loaded as LoRA's are."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from adaptlab.adapt import peft_methods
from adaptlab.adapt.peft_methods.settings import PeftSettings
from adaptlab.registry import Method, register_method


class LohaSettings(PeftSettings):
    targets_have_rank: ClassVar[bool] = True

    name: Literal["loha"] = "loha"
    r: int = Field(default=8, gt=0, description="rank of each of the two factors")
    alpha: float = Field(default=8.0, gt=0, description="scaling numerator (scale = alpha / r)")
    target_modules: list[str] | None = Field(default=None, description="module names; default: peft's for the model")

    def peft_config(self, task: Any) -> Any:
        from peft import LoHaConfig

        return LoHaConfig(r=self.r, alpha=self.alpha, target_modules=self.target_modules, task_type=task)


register_method(Method("loha", LohaSettings, "peft", "LoHa: a Hadamard product of two low-rank updates",
                       peft_methods.wrap, peft_methods.save, lr=5e-3))
