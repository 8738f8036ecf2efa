"""Full training as a method: every weight of the base trained (continued pretraining on a domain's
text, or fine-tuning on its instructions); the run is a plain transformers model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from adaptlab.registry import Method, MethodSettings, register_method


class FullSettings(MethodSettings):
    """No knobs: the optimisation is the run's `train` settings."""

    name: Literal["full"] = "full"


def wrap(model: Any, settings: FullSettings, base: Any) -> Any:
    return model


def save(model: Any, settings: FullSettings, folder: Path) -> None:
    model.save_pretrained(folder)


register_method(Method("full", FullSettings, "hf", "every weight trained (continued pretraining, full fine-tuning)",
                       wrap, save))
