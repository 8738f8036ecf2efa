"""Extractive fine-tuning data: the same prompt/response JSONL as SFT, for an encoder that
learns to point at its answer instead of writing it.

An encoder reads a whole prompt at once, so it can weigh every passage against the
question that closes the prompt, and a span it points at is an exact copy. Each example's
response must be written in its prompt; its first occurrence is the target (start and end
token), as SQuAD-style readers are trained. A prompt longer than the row keeps its end (the
question), and must still hold the response.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from adaptlab.errors import UserError
from adaptlab.tokenization.chat import Messages


def prompt_and_response(messages: Messages) -> tuple[str, str]:
    """The last user turn and the response that follows it."""
    if len(messages) < 2 or messages[-2]["role"] != "user":
        raise UserError("an extractive example is one prompt and its response (the last user turn, then the "
                        "assistant's)")
    return messages[-2]["content"], messages[-1]["content"]


def span_example(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, seq_len: int
                 ) -> tuple[list[int], int, int]:
    """Token ids of the prompt (its last `seq_len`) and the first and last token of the response's first
    occurrence in it."""
    answer = response.strip()
    begin = prompt.find(answer) if answer else -1
    if begin < 0:
        raise UserError(f"response {response[:60]!r} is not written in its prompt; an extractive reader can only "
                        "point at text it is given")
    end = begin + len(answer)
    encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    cut = max(0, len(encoded["input_ids"]) - seq_len)
    offsets = encoded["offset_mapping"][cut:]
    inside = [i for i, (a, b) in enumerate(offsets) if b > begin and a < end]
    if not inside:
        raise UserError(f"response {response[:60]!r} falls outside the last {seq_len} tokens of its prompt; "
                        "raise seq_len or shorten the prompt")
    return encoded["input_ids"][cut:], inside[0], inside[-1]


class SpanExamples:
    """Rows of extractive examples (input ids, mask, start and end positions), drawn at random like
    token windows; each batch is cut to its longest row."""

    def __init__(self, examples: Sequence[Messages], tokenizer: PreTrainedTokenizerBase, seq_len: int, source: str):
        try:
            spans = [span_example(tokenizer, *prompt_and_response(m), seq_len) for m in examples]
        except UserError as exc:
            raise UserError(f"{source}: {exc}") from None
        width = max(len(ids) for ids, _, _ in spans)
        self.input_ids = torch.full((len(spans), width), tokenizer.pad_token_id, dtype=torch.long)
        self.attention_mask = torch.zeros((len(spans), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(spans):
            self.input_ids[row, : len(ids)] = torch.tensor(ids)
            self.attention_mask[row, : len(ids)] = 1
        self.start_positions = torch.tensor([s for _, s, _ in spans])
        self.end_positions = torch.tensor([e for _, _, e in spans])

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(len(self.input_ids), (n,), generator=generator)
        width = int(self.attention_mask[index].sum(1).max())
        return {"input_ids": self.input_ids[index, :width], "attention_mask": self.attention_mask[index, :width],
                "start_positions": self.start_positions[index], "end_positions": self.end_positions[index]}
