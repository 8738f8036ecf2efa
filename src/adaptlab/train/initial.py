"""Where a run starts: a fresh model of a preset, or a base checkpoint wrapped by the run's
registered method (itself for full training, else under a fresh adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from adaptlab.errors import UserError
from adaptlab.models.presets import Family, SpecialIds, build_model
from adaptlab.runs import load_model
from adaptlab.tokenization.train import load_tokenizer
from adaptlab.train.settings import PretrainConfig


@dataclass
class Start:
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    family: Family
    context: int | None  # longest sequence the model takes; None for relative positions (T5)
    base_dir: Path | None  # the base's model folder, for a run that trains an adapter


def initial_model(cfg: PretrainConfig, meta: dict[str, Any] | None) -> Start:
    """The model and tokenizer a run begins with (the same every call under the same seed)."""
    torch.manual_seed(cfg.train.seed)
    if cfg.base is None:
        assert meta is not None, "a run from scratch trains on token shards"
        if not (cfg.tokenizer or meta.get("tokenizer")):
            raise UserError(f"{cfg.data}: its meta.json names no tokenizer folder; set `tokenizer:` in the settings")
        tokenizer = load_tokenizer(Path(cfg.tokenizer or meta["tokenizer"]))
        ids = SpecialIds(pad=tokenizer.pad_token_id, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
        model = build_model(cfg.model, len(tokenizer), ids)
        context = None if cfg.model.family == "encoder-decoder" else cfg.model.max_seq_len
        return Start(model, tokenizer, cfg.model.family, context, None)
    loaded = load_model(cfg.base)
    if meta is not None and len(loaded.tokenizer) != meta["vocab_size"]:
        raise UserError(f"{cfg.data} was encoded with a {meta['vocab_size']}-token tokenizer but base {cfg.base} has "
                        f"{len(loaded.tokenizer)} tokens; encode the corpus with the base's tokenizer")
    model = loaded.model.train()
    if cfg.sft is not None and loaded.family == "encoder":
        model = _extractive_reader(cfg, loaded.path)
    model = cfg.adapts.wrap(model, cfg.method, loaded)
    context = None if loaded.family == "encoder-decoder" else getattr(loaded.model.config, "max_position_embeddings", None)
    return Start(model, loaded.tokenizer, loaded.family, context, loaded.path.resolve())


def _extractive_reader(cfg: PretrainConfig, model_dir: Path) -> torch.nn.Module:
    """An encoder with a question-answering head (start/end of a span) over the base's weights; the head
    is fresh unless the base already is a reader."""
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    if cfg.adapts.frozen_base:
        raise UserError(f"an extractive reader (SFT of an encoder) trains all its weights; drop the adapter method "
                        f"({cfg.method.name})")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the masked-LM head dropped and the fresh span head are the point
    try:
        return AutoModelForQuestionAnswering.from_pretrained(model_dir, local_files_only=True).train()
    finally:
        hf_logging.set_verbosity(verbosity)
