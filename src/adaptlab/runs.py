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

from adaptlab.config import read_yaml
from adaptlab.errors import UserError
from adaptlab.models.presets import Family

MANIFEST = "adaptlab.yaml"
hf_logging.disable_progress_bar()  # per-file loading bars would drown adaptlab's own output


KINDS = ("hf", "peft", "bottleneck")


def write_run_manifest(run_dir: Path, *, family: Family, model: str = "model", kind: str = "hf",
                       base: Path | None = None, base_quantization: str | None = None, chat: bool = False) -> Path:
    """`kind: hf` for a full model folder; `peft` or `bottleneck` for an adapter folder over `base`
    (loaded in 4-bit NF4 when `base_quantization: nf4`, as QLoRA trained it). `chat: true` marks a
    model fine-tuned on conversations: it is asked through its chat template."""
    manifest: dict[str, Any] = {"kind": kind, "family": family, "model": model}
    if base_quantization:
        manifest["base_quantization"] = base_quantization
    if chat:
        manifest["chat"] = True
    if base:
        manifest["base"] = str(Path(base).resolve())
    path = run_dir / MANIFEST
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def write_cost(run_dir: Path, cost: dict[str, Any]) -> Path:
    """What training this run cost (parameters trained, memory, time, artifact size)."""
    path = run_dir / "cost.json"
    path.write_text(json.dumps(cost, indent=2))
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_eval(run_dir: Path, section: str, metrics: dict[str, Any]) -> Path:
    """Merge one section of results into the run's eval.json, atomically."""
    path = run_dir / "eval.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = metrics
    tmp = path.with_name("eval.json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path


def read_manifest(path: Path) -> dict[str, Any] | None:
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return None
    data = read_yaml(manifest)
    if data.get("kind") not in KINDS or "model" not in data or (data["kind"] != "hf" and "base" not in data):
        raise UserError(f"{manifest}: unsupported run manifest {data!r}; accepted kinds: hf, and peft or "
                        "bottleneck with a base")
    return data


def resolve_model_dir(path: Path) -> Path:
    """The save_pretrained folder behind a run folder or a checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such run or model folder")
    manifest = read_manifest(path)
    if manifest is not None:
        path = path / manifest["model"]
        if manifest["kind"] != "hf":
            _check_weights(path)
            return path
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a run folder (no {MANIFEST}) nor a model folder (no config.json)")
    _check_weights(path)
    return path


def _check_weights(model_dir: Path) -> None:
    """Each safetensors file's header read (cheap: nothing is loaded), so a truncated or corrupt
    weights file is one line naming it rather than a deserializer's traceback."""
    from safetensors import SafetensorError, safe_open

    for weights in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(weights, framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{weights}: not a readable safetensors file ({exc}); retrain or copy it again") from None


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    family: Family
    path: Path
    chat: bool = False  # fine-tuned on conversations: prompts go through the chat template


def _with_adapter(kind: str, base: PreTrainedModel, adapter_dir: Path) -> torch.nn.Module:
    """The base under a saved adapter: a peft folder, or one of adaptlab's bottleneck adapters."""
    if kind == "peft":
        from adaptlab.adapt.peft_methods import load_adapter

        return load_adapter(base, adapter_dir)
    from adaptlab.adapt import AdapterModel

    model = AdapterModel(base)
    model.set_active(model.load_adapter(adapter_dir))
    return model.eval()


def is_span_reader(config: Any) -> bool:
    """An encoder with a question-answering head: it points at answers rather than writing them."""
    return any(a.endswith("ForQuestionAnswering") for a in (getattr(config, "architectures", None) or []))


def family_from_config(config: Any) -> Family:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    if is_span_reader(config) or any(a.endswith("ForMaskedLM") for a in (getattr(config, "architectures", None) or [])):
        return "encoder"
    return "decoder"


def load_model(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Model and tokenizer from a run folder or a local Hugging Face checkpoint folder (no hub)."""
    from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForQuestionAnswering,
                              AutoModelForSeq2SeqLM, AutoTokenizer)

    manifest = read_manifest(Path(path)) if Path(path).is_dir() else None
    if manifest is not None and manifest["kind"] != "hf":
        base = load_model(Path(manifest["base"]), device=device)
        if manifest.get("base_quantization") == "nf4":
            from adaptlab.adapt.qlora import load_4bit

            base.model = load_4bit(base.path, device)
        adapter_dir = resolve_model_dir(path)
        # The run's own tokenizer copy carries what training added (a chat template, for SFT).
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir, local_files_only=True) \
            if (adapter_dir / "tokenizer.json").is_file() else base.tokenizer
        return LoadedModel(_with_adapter(manifest["kind"], base.model, adapter_dir), tokenizer, base.family,
                           adapter_dir, chat=bool(manifest.get("chat")))
    model_dir = resolve_model_dir(path)
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    family = family_from_config(config)
    auto = {"decoder": AutoModelForCausalLM, "encoder": AutoModelForMaskedLM,
            "encoder-decoder": AutoModelForSeq2SeqLM}[family]
    if is_span_reader(config):
        auto = AutoModelForQuestionAnswering
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"{model_dir}: no loadable tokenizer ({str(exc).splitlines()[0]})") from None
    model = auto.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).to(device)
    model.eval()
    return LoadedModel(model, tokenizer, family, model_dir, chat=bool(manifest and manifest.get("chat")))
