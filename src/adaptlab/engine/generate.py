"""Text generation over any Hugging Face model, KV cache on.

`transformers.generate` does the decoding; this module owns the settings users pass
(temperature, top-k, top-p, stop strings), batching with left padding, and the
seed that makes sampling repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.copying import CopyConstraint
from adaptlab.errors import UserError


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=1.0, ge=0, description="0 means greedy")
    top_k: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
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


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
             settings: GenerationSettings, copy_from: Sequence[Sequence[str]] | None = None) -> list[Generation]:
    """Continuations of each prompt (the new text only, cut at the first stop string); with
    `copy_from`, each one a span of its prompt's source texts (`engine.copying`)."""
    if not (model.config.is_encoder_decoder or model.can_generate()):
        raise UserError(f"{type(model).__name__} is an encoder-only model and cannot generate text; "
                        "use a decoder or encoder-decoder run")
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    device = next(model.parameters()).device
    rows = [prompt_tokens(model, tokenizer, p, settings.max_new_tokens) for p in prompts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    left_pad = not model.config.is_encoder_decoder
    ids = torch.tensor([[pad] * (width - len(r)) + r if left_pad else r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) if left_pad else [1] * len(r) + [0] * (width - len(r))
                         for r in rows])
    sample = settings.temperature > 0
    kwargs = dict(do_sample=sample, temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p) \
        if sample else dict(do_sample=False)
    if copy_from is not None:
        start = 1 if model.config.is_encoder_decoder else width  # a decoder's output follows its start token
        kwargs["logits_processor"] = LogitsProcessorList([CopyConstraint(tokenizer, copy_from, start, settings.stop)])
    with torch.no_grad():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             max_new_tokens=settings.max_new_tokens, use_cache=settings.use_cache,
                             pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, **kwargs)
    new = out if model.config.is_encoder_decoder else out[:, width:]
    results = []
    for row in new.tolist():
        tokens = [t for t in row if t != pad]
        if tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        results.append(Generation(cut_at_stop(text, settings.stop), tokens))
    return results


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
