"""Run folders and model folders: how to find and load what a run produced.

A run folder holds `adaptlab.yaml` (how to rebuild the LM), the artifact (a
save_pretrained folder), `metrics.jsonl` and `eval.json`. Anything that loads a
model accepts either a run folder or a plain Hugging Face checkpoint folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from adaptlab.errors import UserError
from adaptlab.models.presets import Family

MANIFEST = "adaptlab.yaml"
hf_logging.disable_progress_bar()  # per-file loading bars would drown adaptlab's own output


def write_run_manifest(run_dir: Path, *, family: Family, model: str = "model") -> Path:
    path = run_dir / MANIFEST
    path.write_text(yaml.safe_dump({"kind": "hf", "family": family, "model": model}, sort_keys=False))
    return path


def write_eval(run_dir: Path, section: str, metrics: dict[str, Any]) -> Path:
    """Merge one section of results into the run's eval.json, atomically."""
    path = run_dir / "eval.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = metrics
    tmp = path.with_name("eval.json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path


def resolve_model_dir(path: Path) -> Path:
    """The save_pretrained folder behind a run folder or a checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such run or model folder")
    manifest = path / MANIFEST
    if manifest.is_file():
        data = yaml.safe_load(manifest.read_text()) or {}
        if data.get("kind") != "hf" or "model" not in data:
            raise UserError(f"{manifest}: unsupported run kind {data.get('kind')!r}; accepted: hf")
        path = path / data["model"]
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a run folder (no {MANIFEST}) nor a model folder (no config.json)")
    return path


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    family: Family
    path: Path


def family_from_config(config: Any) -> Family:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    if any(a.endswith("ForMaskedLM") for a in (getattr(config, "architectures", None) or [])):
        return "encoder"
    return "decoder"


def load_model(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Model and tokenizer from a run folder or a local Hugging Face checkpoint folder (no hub)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

    model_dir = resolve_model_dir(path)
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    family = family_from_config(config)
    auto = {"decoder": AutoModelForCausalLM, "encoder": AutoModelForMaskedLM,
            "encoder-decoder": AutoModelForSeq2SeqLM}[family]
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"{model_dir}: no loadable tokenizer ({str(exc).splitlines()[0]})") from None
    model = auto.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).to(device)
    model.eval()
    return LoadedModel(model, tokenizer, family, model_dir)
