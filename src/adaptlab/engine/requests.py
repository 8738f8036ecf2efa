"""What a generation request is: its settings, its prompt's ids as the model is fed them,
and its result. Every decoding path (batched `generate`, the step-by-step engine loop,
streaming, prefix caching, speculative decoding) shares these, so they agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.errors import UserError


SEEDS = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=1.0, ge=0, description="0 means greedy")
    top_k: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(default=None, ge=SEEDS[0], le=SEEDS[1])
    use_cache: bool = True


@dataclass
class Generation:
    text: str
    tokens: list[int] = field(default_factory=list)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first stop string."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def _context_limit(model: PreTrainedModel) -> int | None:
    if model.config.is_encoder_decoder:
        return None
    return getattr(model.config, "max_position_embeddings", None)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, encoder_decoder: bool) -> list[int]:
    """A prompt's ids as the model saw text in training.

    A decoder saw every document after the separator (EOS) of the one before; an
    encoder-decoder saw inputs that end with EOS.
    """
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return [*ids, tokenizer.eos_token_id] if encoder_decoder else [tokenizer.eos_token_id, *ids]


def prompt_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
                  max_new_tokens: int) -> list[int]:
    """The prompt's ids as the model is fed them (`prompt_ids`), left-truncated so that
    `max_new_tokens` still fit a decoder's context: the prompt's end is what matters."""
    ids = prompt_ids(tokenizer, prompt, model.config.is_encoder_decoder)
    limit = _context_limit(model)
    if limit is None:
        return ids
    keep = limit - max_new_tokens
    if keep < 1:
        raise UserError(f"max_new_tokens {max_new_tokens} leaves no room for a prompt in the model's context of "
                        f"{limit} tokens")
    return ids[-keep:]
