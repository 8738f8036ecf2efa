"""Which family a model is (decoder, encoder, encoder-decoder), read from its config, and the one
check that a model can decode, for everything that generates token by token."""

from __future__ import annotations

from typing import Any

from adaptlab.errors import UserError
from adaptlab.models.presets import Family


def is_span_reader(config: Any) -> bool:
    """An encoder with a question-answering head: it points at answers rather than writing them."""
    return any(a.endswith("ForQuestionAnswering") for a in (getattr(config, "architectures", None) or []))


def family_from_config(config: Any) -> Family:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    if is_span_reader(config) or any(a.endswith("ForMaskedLM") for a in (getattr(config, "architectures", None) or [])):
        return "encoder"
    return "decoder"


def require_decoder(model: Any, needed_by: str) -> None:
    """A one-line refusal, naming what needs it, for a model that is not a decoder-only causal LM."""
    if model.config.is_encoder_decoder or not model.can_generate():
        raise UserError(f"{type(model).__name__} is not a causal language model (decoder-only); {needed_by} needs one")
