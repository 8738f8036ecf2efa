"""An extractive reader: an encoder that points at its answer in the passages.

A decoder reader must learn to find the passage sentence a question asks about and copy
from it left to right; the small ones trained here mostly fail at the finding. An encoder
fine-tuned on the same prompt/response data (`adaptlab finetune --base ENCODER --sft`,
`train.span_data`) reads the whole prompt at once, the question included, and scores every
token as the answer's start and end; the answer is the best-scoring span of the passages,
an exact copy by construction. This is the retrieve-and-read design of DrQA and DPR.
It answers; it cannot score text, so loglikelihood requests are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.copying import word_ends_at, word_starts_at
from adaptlab.engine.requests import GenerationSettings, cut_at_stop
from adaptlab.errors import UserError
from adaptlab.lm import LM, HFCausalLM
from adaptlab.models.family import is_span_reader
from adaptlab.retrieval.rag import Reader, passage_labels, passages_end
from adaptlab.runs import load_model

CANNOT_SCORE = ("an extractive reader points at answers in its passages; it cannot score text "
                "(use a decoder reader for likelihood tasks)")


class SpanReader(LM):
    """An encoder with a question-answering head behind the LM interface (`generate_until` only)."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 16):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length: int = model.config.max_position_embeddings

    @classmethod
    def from_path(cls, path: str | Path, *, device: str = "cpu", batch_size: int = 16) -> SpanReader:
        loaded = load_model(Path(path), device=device)
        if not is_span_reader(loaded.model.config):
            raise UserError(f"{path}: not an extractive reader (an encoder fine-tuned with `adaptlab finetune --sft`)")
        return cls(loaded.model, loaded.tokenizer, batch_size=batch_size)

    def render(self, context: str) -> str:
        return context

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        raise UserError(CANNOT_SCORE)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        raise UserError(CANNOT_SCORE)

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Each prompt's best span of its passages (at most max_gen_toks tokens), cut at a stop string."""
        answers: list[str] = []
        for first in range(0, len(requests), self.batch_size):
            answers += self._extract(requests[first : first + self.batch_size])
        return answers

    def _extract(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        encoded = [self.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True) for prompt, _ in batch]
        rows = [(e["input_ids"][-self.max_length :], e["offset_mapping"][-self.max_length :]) for e in encoded]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, (row, _) in enumerate(rows):
            ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
        device = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device))
        answers = []
        for i, ((prompt, gen_kwargs), (_, offsets)) in enumerate(zip(batch, rows)):
            settings = GenerationSettings.from_gen_kwargs(gen_kwargs)
            starts, ends = span_bounds(prompt, offsets, width)
            span = best_span(out.start_logits[i].cpu(), out.end_logits[i].cpu(), starts, ends, settings.max_new_tokens)
            text = "" if span is None else prompt[offsets[span[0]][0] : offsets[span[1]][1]]
            answers.append(cut_at_stop(text.strip(), settings.stop).strip())
        return answers


def span_bounds(prompt: str, offsets: Sequence[tuple[int, int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tokens may start and which may end an answer: tokens of the passages' text (not their
    `[doc_id]` labels), the first at a word's start and the last at a word's end (as copy-constrained
    decoding has it); padded to `width`."""
    limit = passages_end(prompt)
    labels = passage_labels(prompt)
    starts, ends = torch.zeros(width, dtype=torch.bool), torch.zeros(width, dtype=torch.bool)
    for i, (a, b) in enumerate(offsets):
        if b > limit or not prompt[a:b].strip():
            continue
        first = a + len(prompt[a:b]) - len(prompt[a:b].lstrip())  # a byte-level token may carry the space before
        if any(start <= first < end for start, end in labels):
            continue
        starts[i], ends[i] = word_starts_at(prompt, first), word_ends_at(prompt, b)
    return starts, ends


def best_span(start: torch.Tensor, end: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor,
              longest: int) -> tuple[int, int] | None:
    """The (first, last) token of the highest start + end score among spans at most `longest` tokens long
    that begin on a `starts` token and finish on an `ends` one; None when there is none."""
    positions = torch.arange(len(start))
    length = positions[None, :] - positions[:, None]
    ok = (length >= 0) & (length < longest) & starts[:, None] & ends[None, :]
    if not ok.any():
        return None
    scores = (start[:, None] + end[None, :]).masked_fill(~ok, float("-inf"))
    first, last = divmod(int(scores.argmax()), len(start))
    return first, last


def load_reader(path: str | Path, *, device: str = "cpu") -> Reader:
    """The reader in a run folder: an extractive one (`SpanReader`) or a decoder (`HFCausalLM`)."""
    loaded = load_model(Path(path), device=device)
    if is_span_reader(loaded.model.config):
        return SpanReader(loaded.model, loaded.tokenizer)
    return HFCausalLM(loaded.model, loaded.tokenizer, chat=loaded.chat)
