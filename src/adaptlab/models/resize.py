"""Grow a model's vocabulary for new tokens, each starting as the mean of the pieces it replaces.

A new token's input row is the mean of its old pieces' input rows, so the model first
reads it roughly as it read the pieces together; its output row (and bias) is the mean
of their output rows, so its first predicted probability sits among theirs instead of
at random. Old rows are left exactly as they were, so text without new tokens scores
the same as before. This is Fast Vocabulary Transfer's initialisation (Gee et al., 2022).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel


def resize_for_new_tokens(model: PreTrainedModel, vocab_size: int, new_token_pieces: dict[int, list[int]]) -> None:
    """Give `model` at least `vocab_size` rows and set each new id's rows from its pieces, in place.

    `new_token_pieces` maps each new id to the old ids it replaces. A model whose
    matrices are already larger (padded vocabularies) keeps its size and its spare rows
    are used. Tied input and output matrices are set once. config.vocab_size follows,
    so `from_pretrained` rebuilds the same shapes.
    """
    _check_pieces(new_token_pieces)
    if vocab_size > model.get_input_embeddings().weight.shape[0]:
        # Every new row is overwritten below, so the (slow, covariance-based) mean resizing is skipped.
        model.resize_token_embeddings(vocab_size, mean_resizing=False)
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    with torch.no_grad():
        _set_mean_rows(inputs, new_token_pieces)
        if outputs is not None and outputs.weight is not inputs:
            _set_mean_rows(outputs.weight, new_token_pieces)
        if outputs is not None and outputs.bias is not None:
            _set_mean_rows(outputs.bias, new_token_pieces)


def _check_pieces(new_token_pieces: dict[int, list[int]]) -> None:
    """Every new id needs pieces, and pieces must be old ids: a new row cannot start from another new one."""
    if not new_token_pieces:
        raise ValueError("no new tokens to add rows for")
    first_new = min(new_token_pieces)
    for new_id, pieces in new_token_pieces.items():
        if not pieces or max(pieces) >= first_new or min(pieces) < 0:
            raise ValueError(f"new token {new_id}: pieces {pieces} must be old ids below {first_new}")


def _set_mean_rows(matrix: torch.Tensor, new_token_pieces: dict[int, list[int]]) -> None:
    """Row `new` of `matrix` (or entry, for a bias) becomes the mean of its pieces' rows."""
    for new_id, pieces in new_token_pieces.items():
        matrix[new_id] = matrix[pieces].mean(dim=0)
