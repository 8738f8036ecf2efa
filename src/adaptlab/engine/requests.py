"""What a generation request is: its settings, its prompt's ids as the model is fed them,
and its result. Every decoding path (batched `generate`, the step-by-step engine loop,
streaming, prefix caching, speculative decoding) shares these, so they agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.errors import UserError

SEEDS = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes


class GenerationSettings(BaseModel):
    """How one request decodes. The one conversion to and from the shapes others speak:
    lm-evaluation-harness's gen_kwargs (`from_gen_kwargs`, `gen_kwargs`) and OpenAI's request
    fields (`from_openai`)."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=1.0, ge=0, description="0 means greedy")
    top_k: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(default=None, ge=SEEDS[0], le=SEEDS[1])
    use_cache: bool = True

    @classmethod
    def from_gen_kwargs(cls, gen_kwargs: dict[str, Any]) -> GenerationSettings:
        """lm-eval's gen_kwargs; keys adaptlab does not decode by (a task's own extras) are left aside."""
        kw = {key: value for key, value in gen_kwargs.items() if key in GenKwargs.model_fields}
        if "max_new_tokens" in gen_kwargs and "max_gen_toks" not in kw:
            kw["max_gen_toks"] = gen_kwargs["max_new_tokens"]
        return GenKwargs.model_validate(kw).settings()

    def gen_kwargs(self) -> dict[str, Any]:
        """These settings as lm-eval's gen_kwargs (what an `LM.generate_until` request carries)."""
        kwargs: dict[str, Any] = {"until": list(self.stop), "max_gen_toks": self.max_new_tokens,
                                  "do_sample": self.temperature > 0, "temperature": self.temperature}
        kwargs.update({key: getattr(self, key) for key in ("top_k", "top_p", "seed") if getattr(self, key) is not None})
        return kwargs

    @classmethod
    def from_openai(cls, *, max_tokens: int, temperature: float | None, top_p: float | None, stop: list[str],
                    seed: int | None) -> GenerationSettings:
        """An OpenAI request's fields: temperature 1 and top_p 1 when not given, as OpenAI's API has them."""
        return cls(max_new_tokens=max_tokens, temperature=1.0 if temperature is None else temperature,
                   top_p=None if top_p in (None, 1) else top_p, stop=stop, seed=seed)


class GenKwargs(BaseModel):
    """lm-evaluation-harness's gen_kwargs as adaptlab reads them, checked where a user writes them
    (a pipeline stage), so a misspelt key is named rather than ignored."""

    model_config = ConfigDict(extra="forbid")

    until: list[str] | str | None = None
    max_gen_toks: int | None = Field(None, gt=0)
    do_sample: bool | None = None
    temperature: float | None = Field(None, ge=0)
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def settings(self) -> GenerationSettings:
        """Greedy unless do_sample (then temperature 1 unless given); a temperature without do_sample
        samples at it, as transformers' generate would."""
        until = [self.until] if isinstance(self.until, str) else list(self.until or [])
        temperature = (self.temperature if self.temperature is not None else 1.0) if self.do_sample \
            else (self.temperature or 0.0)
        extras = {key: getattr(self, key) for key in ("top_k", "top_p", "seed") if getattr(self, key) is not None}
        return GenerationSettings(stop=until, max_new_tokens=self.max_gen_toks or 64, temperature=temperature,
                                  **extras)


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
