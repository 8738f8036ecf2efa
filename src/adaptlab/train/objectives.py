"""Pretraining objectives: causal LM, masked LM and T5 span corruption.

An objective turns raw token windows into model inputs and computes the loss, so one
training loop serves every model family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.errors import UserError

IGNORE = -100


class Objective(Protocol):
    name: str

    def window_length(self, seq_len: int) -> int: ...

    def make_batch(self, windows: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]: ...

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...


@dataclass
class CausalLM:
    """Next-token prediction; the loss is over every position."""

    name: str = "causal"

    def window_length(self, seq_len: int) -> int:
        return seq_len + 1

    def make_batch(self, windows: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"input_ids": windows[:, :-1], "labels": windows[:, 1:]}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], use_cache=False).logits
        logits = logits[:, -batch["labels"].size(1) :]  # prompt tuning prepends virtual-token positions
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), batch["labels"].reshape(-1))


@dataclass
class MaskedLM:
    """BERT's objective: 15% of tokens predicted; of those 80% masked, 10% random, 10% kept."""

    mask_id: int
    vocab_size: int
    special_ids: tuple[int, ...]
    probability: float = 0.15
    name: str = "masked"

    def window_length(self, seq_len: int) -> int:
        return seq_len

    def make_batch(self, windows: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        inputs = windows.clone()
        candidates = ~torch.isin(windows, torch.tensor(self.special_ids))
        chosen = (torch.rand(windows.shape, generator=generator) < self.probability) & candidates
        if not chosen.any():  # a batch with no target would give a NaN loss
            chosen.view(-1)[torch.nonzero(candidates.view(-1))[0]] = True
        labels = torch.where(chosen, windows, IGNORE)
        action = torch.rand(windows.shape, generator=generator)
        inputs[chosen & (action < 0.8)] = self.mask_id
        randomize = chosen & (action >= 0.8) & (action < 0.9)
        inputs[randomize] = torch.randint(self.vocab_size, windows.shape, generator=generator)[randomize]
        return {"input_ids": inputs, "labels": labels}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(input_ids=batch["input_ids"], labels=batch["labels"]).loss


@dataclass
class SpanCorruption:
    """T5's objective: spans of noise replaced by sentinels; the decoder writes them back."""

    sentinel_ids: tuple[int, ...]
    eos_id: int
    pad_id: int
    noise_density: float = 0.15
    mean_span_length: float = 3.0
    name: str = "span_corruption"

    def window_length(self, seq_len: int) -> int:
        spans = self._num_spans(seq_len)
        if spans > len(self.sentinel_ids):
            raise UserError(
                f"seq_len {seq_len} needs {spans} sentinel tokens (<extra_id_N>) but the tokenizer has "
                f"{len(self.sentinel_ids)}; lower seq_len or noise_density"
            )
        return seq_len

    def _num_noise(self, length: int) -> int:
        return min(max(1, round(length * self.noise_density)), length - 1)

    def _num_spans(self, length: int) -> int:
        return max(1, round(self._num_noise(length) / self.mean_span_length))

    def _segment(self, total: int, parts: int, generator: torch.Generator) -> list[int]:
        """`total` split into `parts` random positive lengths."""
        cuts = sorted((torch.randperm(total - 1, generator=generator)[: parts - 1] + 1).tolist())
        bounds = [0, *cuts, total]
        return [b - a for a, b in zip(bounds, bounds[1:])]

    def _corrupt(self, row: list[int], generator: torch.Generator) -> tuple[list[int], list[int]]:
        noise = self._num_noise(len(row))
        spans = min(self._num_spans(len(row)), noise, len(row) - noise)
        noise_lengths = self._segment(noise, spans, generator)
        keep_lengths = self._segment(len(row) - noise, spans, generator)
        inputs: list[int] = []
        targets: list[int] = []
        pos = 0
        for i, (keep, drop) in enumerate(zip(keep_lengths, noise_lengths)):
            inputs += row[pos : pos + keep] + [self.sentinel_ids[i]]
            pos += keep
            targets += [self.sentinel_ids[i]] + row[pos : pos + drop]
            pos += drop
        return inputs + [self.eos_id], targets + [self.eos_id]

    def make_batch(self, windows: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        pairs = [self._corrupt(row, generator) for row in windows.tolist()]
        inputs = _pad([p[0] for p in pairs], self.pad_id)
        labels = _pad([p[1] for p in pairs], IGNORE)
        return {"input_ids": inputs, "attention_mask": (inputs != self.pad_id).long(), "labels": labels}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch, use_cache=False).loss


@dataclass
class SpanExtraction:
    """Extractive fine-tuning of an encoder (`train.span_data`): cross-entropy of the answer's start
    and end token, as the question-answering head computes it. It reads SFT examples, never shards."""

    name: str = "span_extraction"

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def objective_for(family: str, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, *, mlm_probability: float,
                  noise_density: float, mean_span_length: float) -> Objective:
    """The pretraining objective of a model family, wired to the tokenizer's special tokens."""
    if family == "decoder":
        return CausalLM()
    if family == "encoder":
        if tokenizer.mask_token_id is None:
            raise UserError("masked LM needs a <mask> token; the tokenizer has none")
        return MaskedLM(
            mask_id=tokenizer.mask_token_id,
            vocab_size=model.config.vocab_size,
            special_ids=tuple(tokenizer.all_special_ids),
            probability=mlm_probability,
        )
    sentinels = tuple(tokenizer.convert_tokens_to_ids(f"<extra_id_{i}>") for i in range(100))
    sentinels = tuple(s for s in sentinels if s is not None and s != tokenizer.unk_token_id)
    return SpanCorruption(
        sentinel_ids=sentinels,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        noise_density=noise_density,
        mean_span_length=mean_span_length,
    )
