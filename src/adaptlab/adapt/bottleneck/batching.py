"""Repeat a batch once per adapter and split the joint output back, for one-pass comparisons."""

from __future__ import annotations

from typing import Any

import torch
from transformers.utils import ModelOutput

from adaptlab.errors import UserError


def batch_size(inputs: dict[str, Any]) -> int:
    first = inputs.get("input_ids", inputs.get("inputs_embeds"))
    if not isinstance(first, torch.Tensor):
        raise UserError("forward_each needs input_ids or inputs_embeds as a tensor")
    return first.shape[0]


def repeat_inputs(inputs: dict[str, Any], copies: int) -> dict[str, Any]:
    """Every batch-first tensor stacked `copies` times along the batch; other values unchanged."""
    size = batch_size(inputs)
    return {k: v.repeat(copies, *[1] * (v.dim() - 1)) if _batch_first(v, size) else v for k, v in inputs.items()}


def split_output(output: ModelOutput, copies: int) -> list[ModelOutput]:
    """The joint output cut into `copies` equal batch slices; fields without a batch dimension
    (a loss averaged over all copies, a cache object) are left out."""
    total = next(v for v in output.values() if isinstance(v, torch.Tensor)).shape[0]
    size = total // copies
    parts = []
    for i in range(copies):
        cut = {k: _rows(v, slice(i * size, (i + 1) * size), total) for k, v in output.items()}
        parts.append(type(output)(**{k: v for k, v in cut.items() if v is not None}))
    return parts


def _batch_first(value: Any, size: int) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == size


def _rows(value: Any, rows: slice, total: int) -> Any:
    if _batch_first(value, total):
        return value[rows]
    if isinstance(value, tuple) and value:
        parts = [_rows(v, rows, total) for v in value]
        return tuple(parts) if all(p is not None for p in parts) else None
    return None
