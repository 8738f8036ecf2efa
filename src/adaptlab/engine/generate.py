"""Text generation over any Hugging Face model, KV cache on.

`transformers.generate` does the decoding of batches, encoder-decoders and copy-constrained
requests, with left padding and the seed that makes sampling repeatable; a single prompt
for a plain Llama decoder goes through the engine's own loop (`decode.generate_one`),
whose compact forward makes each cached step several times cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.copying import CopyConstraint
from adaptlab.engine.decode import generate_one
from adaptlab.engine.llama_decoder import CompactLlama
from adaptlab.engine.requests import Generation, GenerationSettings, cut_at_stop, prompt_tokens
from adaptlab.errors import UserError


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
             settings: GenerationSettings, copy_from: Sequence[Sequence[str]] | None = None) -> list[Generation]:
    """Continuations of each prompt (the new text only, cut at the first stop string); with
    `copy_from`, each one a span of its prompt's source texts (`engine.copying`)."""
    if not (model.config.is_encoder_decoder or model.can_generate()):
        raise UserError(f"{type(model).__name__} is an encoder-only model and cannot generate text; "
                        "use a decoder or encoder-decoder run")
    if len(prompts) == 1 and copy_from is None and CompactLlama.of(model) is not None:
        return [generate_one(model, tokenizer, prompts[0], settings)]
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
