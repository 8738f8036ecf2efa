"""How a served Hugging Face model decodes: `adaptlab serve`'s --prefix-cache-mb and --draft.

- `Generated` (the default): the engine's step-by-step loop (`StepStream` over
  `decode.token_steps`) for a plain Llama model, whose compact forward makes each step
  several times cheaper; `transformers.generate` on a thread of its own (`TokenStream`)
  for every other model (adapters, peft wrappers, other architectures).
- `PrefixCached`: the prompt is prefilled through the model's own `PrefixCache`, reusing the
  KV blocks of prefixes earlier prompts shared (a system prompt, few-shot examples, RAG
  passages) and storing its new blocks; then a step-by-step decode (`StepStream`).
- `Drafted`: speculative decoding with a draft over the same tokenizer; greedy answers are
  the model's own, token for token, and sampled ones follow its distribution.

`Decodings` picks one per model. The draft serves base models only (a checkpoint with no
adapter: a draft is picked to agree with one model, and an adapter changes what that model
says). With both flags, base models are drafted (speculative decoding prefills with no cache
of its own) and every other HF-backed model, adapter runs and RAG readers, is prefix-cached.
A peft prefix- or prompt-tuned adapter puts virtual tokens before every prompt, which a
cache keyed by the prompt's tokens cannot know of: it is always `Generated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transformers import PreTrainedModel

from adaptlab.adapt.peft_methods.generation import has_virtual_tokens
from adaptlab.engine.decode import token_steps
from adaptlab.engine.llama_decoder import CompactLlama
from adaptlab.engine.prefix_cache import PrefixCache, PrefixCachingGenerator
from adaptlab.engine.requests import GenerationSettings, prompt_tokens
from adaptlab.engine.speculative import SpeculativeDecoder, SpeculativeStats
from adaptlab.engine.streaming import StepStream, TokenStream
from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.serve.jobs import Stream


class Decoding(Protocol):
    context_length: int  # tokens of prompt plus generation it takes

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream: ...


class Generated:
    def __init__(self, lm: HFCausalLM):
        self.lm = lm
        self.context_length = lm.max_length

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        model, tokenizer = self.lm.model, self.lm.tokenizer
        if CompactLlama.of(model) is None:
            return TokenStream(model, tokenizer, prompt, settings)
        ids = prompt_tokens(model, tokenizer, prompt, settings.max_new_tokens)
        eos = tokenizer.eos_token_id
        return StepStream(tokenizer, settings, len(ids), lambda: token_steps(model, ids, settings, eos))


class PrefixCached:
    def __init__(self, lm: HFCausalLM, budget_bytes: int):
        self.generator = PrefixCachingGenerator(lm.model, lm.tokenizer, budget_bytes=budget_bytes)
        self.context_length = lm.max_length

    @property
    def cache(self) -> PrefixCache:
        return self.generator.cache

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        g = self.generator
        count = len(prompt_tokens(g.model, g.tokenizer, prompt, settings.max_new_tokens))
        return StepStream(g.tokenizer, settings, count, lambda: g.prefill(prompt, settings).tokens)


class Drafted:
    def __init__(self, decoder: SpeculativeDecoder, context_length: int):
        self.decoder = decoder
        self.context_length = context_length

    def stream(self, prompt: str, settings: GenerationSettings) -> Stream:
        d = self.decoder
        count = len(prompt_tokens(d.context_model, d.tokenizer, prompt, settings.max_new_tokens))
        return StepStream(d.tokenizer, settings, count, lambda: d.stream(prompt, settings, SpeculativeStats()))


@dataclass(frozen=True)
class Draft:
    path: Path  # as the user named it, for errors
    lm: HFCausalLM


class Decodings:
    """Each served HF model's decoding, from the flags; one prefix cache per model, shared by every
    name the model is served under (its KV means nothing to another model)."""

    def __init__(self, prefix_cache_bytes: int = 0, draft: Draft | None = None):
        self.prefix_cache_bytes = prefix_cache_bytes
        self.draft = draft
        self._prefix_cached: dict[HFCausalLM, PrefixCached] = {}

    def for_model(self, name: str, lm: HFCausalLM) -> Decoding:
        """A model served under `name`: drafted when there is a draft and it is a base model."""
        if self.draft is not None and isinstance(lm.model, PreTrainedModel):
            return self._drafted(name, lm, self.draft)
        return self.for_reader(name, lm)

    def for_reader(self, name: str, lm: HFCausalLM) -> Decoding:
        """A RAG system's reader (or a model the draft does not serve): prefix-cached when the cache is on."""
        if not self.prefix_cache_bytes or has_virtual_tokens(lm.model):
            return Generated(lm)
        if lm not in self._prefix_cached:
            try:
                self._prefix_cached[lm] = PrefixCached(lm, self.prefix_cache_bytes)
            except UserError as exc:
                raise UserError(f"--prefix-cache-mb: model {name!r}: {exc}") from None
        return self._prefix_cached[lm]

    @staticmethod
    def _drafted(name: str, lm: HFCausalLM, draft: Draft) -> Drafted:
        ours, theirs = lm.tokenizer.get_vocab(), draft.lm.tokenizer.get_vocab()
        if ours != theirs:
            raise UserError(f"--draft {draft.path}: its tokenizer ({len(theirs)} tokens) is not model {name!r}'s "
                            f"({len(ours)} tokens); a draft must be trained with its target's tokenizer")
        try:
            decoder = SpeculativeDecoder(lm.model, draft.lm.model, lm.tokenizer)
        except UserError as exc:
            raise UserError(f"--draft {draft.path}: model {name!r}: {exc}") from None
        return Drafted(decoder, min(lm.max_length, draft.lm.max_length))


def decoding_summary(models: Mapping[str, object], prefix_cache_mb: int, draft: Path | None) -> list[str]:
    """A line per flag naming the served models it reaches (a draft serves base models only)."""
    decodings = {name: getattr(model, "decoding", None) for name, model in models.items()}
    lines = []
    if prefix_cache_mb:
        names = [name for name, d in decodings.items() if isinstance(d, PrefixCached)]
        lines.append(f"prefix cache ({prefix_cache_mb} MB per model): {', '.join(names) or 'no served model'}")
    if draft is not None:
        names = [name for name, d in decodings.items() if isinstance(d, Drafted)]
        lines.append(f"draft {draft}: {', '.join(names) or 'no served model (it drafts for base models only)'}")
    return lines
