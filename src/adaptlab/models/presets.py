"""From-scratch model presets for the three families of transformer language models.

Each preset is a `transformers` config (Llama for decoder-only, BERT for encoder-only,
T5 for encoder-decoder), so what `pretrain` writes loads with plain
`AutoModelFor*.from_pretrained` and no adaptlab code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import (
    BertConfig,
    BertForMaskedLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    T5Config,
    T5ForConditionalGeneration,
)

Family = Literal["decoder", "encoder", "encoder-decoder"]
FAMILIES: tuple[str, ...] = ("decoder", "encoder", "encoder-decoder")


@dataclass(frozen=True)
class Size:
    """Width and depth of a preset; parameter counts are for the transformer body."""

    hidden: int
    layers: int
    heads: int


# Roughly 1M, 10M, 30M and 100M non-embedding parameters for the decoder family.
SIZES: dict[str, Size] = {
    "1m": Size(hidden=128, layers=4, heads=4),
    "10m": Size(hidden=256, layers=8, heads=8),
    "30m": Size(hidden=384, layers=12, heads=6),
    "100m": Size(hidden=768, layers=12, heads=12),
}


class ModelConfig(BaseModel):
    """Which architecture to build; explicit fields override the size preset."""

    model_config = ConfigDict(extra="forbid")

    family: Family = "decoder"
    size: Literal["1m", "10m", "30m", "100m"] = "1m"
    hidden_size: int | None = Field(default=None, gt=0)
    num_layers: int | None = Field(default=None, gt=0)
    num_heads: int | None = Field(default=None, gt=0)
    intermediate_size: int | None = Field(default=None, gt=0)
    max_seq_len: int = Field(default=256, gt=0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    tie_embeddings: bool = False

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.hidden % self.heads:
            raise ValueError(f"hidden_size {self.hidden} is not divisible by num_heads {self.heads}")
        return self

    @property
    def hidden(self) -> int:
        return self.hidden_size or SIZES[self.size].hidden

    @property
    def layers(self) -> int:
        return self.num_layers or SIZES[self.size].layers

    @property
    def heads(self) -> int:
        return self.num_heads or SIZES[self.size].heads

    @property
    def ffn(self) -> int:
        """Feed-forward width: 4x hidden, or 8/3x for the gated (SwiGLU) decoder, same FLOPs."""
        if self.intermediate_size:
            return self.intermediate_size
        if self.family == "decoder":
            return 8 * ((8 * self.hidden // 3 + 7) // 8)
        return 4 * self.hidden


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    bos: int
    eos: int


def build_model(cfg: ModelConfig, vocab_size: int, ids: SpecialIds) -> PreTrainedModel:
    """A freshly initialised model of the configured family and size."""
    common = dict(vocab_size=vocab_size, pad_token_id=ids.pad, eos_token_id=ids.eos)
    if cfg.family == "decoder":
        config = LlamaConfig(
            hidden_size=cfg.hidden,
            intermediate_size=cfg.ffn,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            num_key_value_heads=cfg.heads,
            max_position_embeddings=cfg.max_seq_len,
            attention_dropout=cfg.dropout,
            rms_norm_eps=1e-5,
            tie_word_embeddings=cfg.tie_embeddings,
            bos_token_id=ids.bos,
            **common,
        )
        return LlamaForCausalLM(config)
    if cfg.family == "encoder":
        config = BertConfig(
            hidden_size=cfg.hidden,
            intermediate_size=cfg.ffn,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            max_position_embeddings=cfg.max_seq_len,
            hidden_dropout_prob=cfg.dropout,
            attention_probs_dropout_prob=cfg.dropout,
            type_vocab_size=1,
            tie_word_embeddings=True,
            **common,
        )
        return BertForMaskedLM(config)
    config = T5Config(
        d_model=cfg.hidden,
        d_kv=cfg.hidden // cfg.heads,
        d_ff=cfg.ffn,
        num_layers=max(1, cfg.layers // 2),  # per stack: encoder plus decoder keep the preset's depth
        num_heads=cfg.heads,
        dropout_rate=cfg.dropout,
        feed_forward_proj="gated-gelu",
        decoder_start_token_id=ids.pad,
        **common,
    )
    return T5ForConditionalGeneration(config)




def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Parameters as the model defines them: a 4-bit packed weight counts its original shape."""
    return sum(_logical_numel(p) for p in model.parameters() if p.requires_grad or not trainable_only)


def _logical_numel(p: torch.nn.Parameter) -> int:
    shape = getattr(getattr(p, "quant_state", None), "shape", None)  # bitsandbytes Params4bit
    return math.prod(shape) if shape is not None else p.numel()
