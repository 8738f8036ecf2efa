"""Supervised fine-tuning data: prompt/response or chat JSONL, rendered with the
tokenizer's chat template, loss on the assistant's tokens only, packed into rows.

Each line is {"prompt": ..., "response": ...} (an optional "system" too) or
{"messages": [{"role": ..., "content": ...}, ...]}. Rendering is incremental, so the
tokens of every assistant turn (and the EOS that ends it) are the only targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedTokenizerBase

from adaptlab.corpus.documents import iter_jsonl
from adaptlab.errors import UserError
from adaptlab.tokenization.chat import Messages, render_prompt
from adaptlab.train.objectives import IGNORE

ROLES = ("system", "user", "assistant")


class SFTSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_file: Path
    validation_file: Path | None = None
    validation_fraction: float = Field(default=0.1, gt=0, lt=1, description="held out when no validation_file")
    pack: bool = True



def _messages(record: dict, where: str) -> Messages:
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise UserError(f"{where}: each message needs a role in {', '.join(ROLES)} and a string content")
        if messages[-1]["role"] != "assistant":
            raise UserError(f"{where}: the last message must be the assistant's (the response to learn)")
        return messages
    for field in ("prompt", "response"):
        if not isinstance(record.get(field), str):
            raise UserError(f"{where}: missing field {field!r} (accepted: prompt + response, or messages)")
    head = [{"role": "system", "content": record["system"]}] if isinstance(record.get("system"), str) else []
    return [*head, {"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["response"]}]


def read_examples(path: Path) -> list[Messages]:
    """Conversations from a JSONL file; a bad line is an error naming file and line number."""
    examples = [_messages(record, where) for where, record in iter_jsonl(path, "an SFT JSONL file")]
    if not examples:
        raise UserError(f"{path}: no examples")
    return examples


def encode_example(tokenizer: PreTrainedTokenizerBase, messages: Messages) -> tuple[list[int], list[bool]]:
    """Token ids of a conversation and, for each, whether it is a training target."""
    ids: list[int] = []
    targets: list[bool] = []
    rendered = ""
    for k, message in enumerate(messages):
        full = tokenizer.apply_chat_template(messages[: k + 1], tokenize=False)
        head = render_prompt(tokenizer, messages[:k]) if message["role"] == "assistant" else full
        if not (head.startswith(rendered) and full.startswith(head)):
            raise UserError("the tokenizer's chat template does not render conversations incrementally; "
                            "cannot tell the assistant's tokens apart")
        for text, is_target in ((head[len(rendered) :], False), (full[len(head) :], True)):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            ids += piece
            targets += [is_target] * len(piece)
        if message["role"] == "assistant":
            ids.append(tokenizer.eos_token_id)
            targets.append(True)
        rendered = full
    return ids, targets


def pack(encoded: Sequence[tuple[list[int], list[bool]]], seq_len: int, pad_id: int,
         pack_rows: bool = True) -> dict[str, torch.Tensor]:
    """Rows of seq_len inputs with next-token labels (IGNORE off target); several examples
    share a row when packing. An example longer than a row keeps its end (the response)."""
    rows: list[tuple[list[int], list[int]]] = []
    current_ids: list[int] = []
    current_labels: list[int] = []
    for ids, targets in encoded:
        ids, targets = ids[-(seq_len + 1) :], targets[-(seq_len + 1) :]
        inputs, labels = ids[:-1], [t if is_t else IGNORE for t, is_t in zip(ids[1:], targets[1:])]
        if current_ids and (not pack_rows or len(current_ids) + len(inputs) > seq_len):
            rows.append((current_ids, current_labels))
            current_ids, current_labels = [], []
        current_ids, current_labels = current_ids + inputs, current_labels + labels
    if current_ids:
        rows.append((current_ids, current_labels))
    input_ids = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
    label_ids = torch.full((len(rows), seq_len), IGNORE, dtype=torch.long)
    for i, (ids, labels) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        label_ids[i, : len(labels)] = torch.tensor(labels)
    return {"input_ids": input_ids, "labels": label_ids}


class PackedExamples:
    """Rows of packed SFT examples, drawn at random like token windows."""

    def __init__(self, examples: Sequence[Messages], tokenizer: PreTrainedTokenizerBase, seq_len: int, pack_rows: bool):
        encoded = [encode_example(tokenizer, m) for m in examples]
        self.rows = pack(encoded, seq_len, tokenizer.pad_token_id, pack_rows)
        self.target_tokens = int((self.rows["labels"] != IGNORE).sum())

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(len(self.rows["input_ids"]), (n,), generator=generator)
        return {k: v[index] for k, v in self.rows.items()}


def split_examples(settings: SFTSettings, seed: int) -> tuple[list[Messages], list[Messages]]:
    """Train and validation conversations: the validation file, or a seeded share held out."""
    train = read_examples(settings.train_file)
    if settings.validation_file is not None:
        return train, read_examples(settings.validation_file)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, round(len(train) * settings.validation_fraction))
    if held >= len(train):
        raise UserError(f"{settings.train_file}: {len(train)} examples are too few to hold out a validation share")
    return [train[i] for i in order[held:]], [train[i] for i in order[:held]]
