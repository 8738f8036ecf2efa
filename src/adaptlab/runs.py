"""Run folders and model folders: how to find and load what a run produced.

A run folder holds `adaptlab.yaml` (how to rebuild the LM), the artifact (a
save_pretrained folder), `metrics.jsonl` and `eval.json`. Anything that loads a
model accepts either a run folder or a plain Hugging Face checkpoint folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from adaptlab import registry
from adaptlab.config import read_yaml
from adaptlab.errors import UserError
from adaptlab.fileio import write_file
from adaptlab.models.family import family_from_config, is_span_reader
from adaptlab.models.presets import Family

MANIFEST = "adaptlab.yaml"
hf_logging.disable_progress_bar()  # per-file loading bars would drown adaptlab's own output


def write_run_manifest(run_dir: Path, *, family: Family, model: str = "model", kind: str = "hf",
                       base: Path | None = None, base_quantization: str | None = None, chat: bool = False,
                       method: str | None = None) -> Path:
    """`kind: hf` for a full model folder; another registered run kind (`peft`, `bottleneck`) for an
    adapter folder over `base` (loaded in 4-bit NF4 when `base_quantization: nf4`, as QLoRA trained
    it). `chat: true` marks a model fine-tuned on conversations: it is asked through its chat
    template. `method` names the method that trained it, for the reader."""
    manifest: dict[str, Any] = {"kind": kind, "family": family, "model": model}
    if method:
        manifest["method"] = method
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
    return write_file(path, json.dumps(data, indent=2))


def read_manifest(path: Path) -> dict[str, Any] | None:
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return None
    data = read_yaml(manifest)
    over_a_base = list(registry.run_kinds())
    kind = data.get("kind")
    if kind not in ("hf", *over_a_base) or "model" not in data or (kind != "hf" and "base" not in data):
        raise UserError(f"{manifest}: unsupported run manifest {data!r}; accepted kinds: hf, and "
                        f"{' or '.join(over_a_base)} with a base")
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


def load_model(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Model and tokenizer from a run folder or a local Hugging Face checkpoint folder (no hub)."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForQuestionAnswering,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    manifest = read_manifest(Path(path)) if Path(path).is_dir() else None
    if manifest is not None and manifest["kind"] != "hf":
        base = load_model(Path(manifest["base"]), device=device)
        adapter_dir = resolve_model_dir(path)
        # The run's own tokenizer copy carries what training added (a chat template, for SFT).
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir, local_files_only=True) \
            if (adapter_dir / "tokenizer.json").is_file() else base.tokenizer
        model = registry.run_kinds()[manifest["kind"]].load(base, adapter_dir, manifest)
        return LoadedModel(model, tokenizer, base.family, adapter_dir, chat=bool(manifest.get("chat")))
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


def merge_run(run: Path, out_dir: Path) -> Path:
    """A run over a base folded into a plain model run (LoRA/DoRA: the update added to the base's
    weights), which transformers, vLLM or TGI load with no adapter code."""
    from adaptlab.fileio import publish_dir, refuse_existing

    manifest = read_manifest(run)
    kind = registry.run_kinds().get(manifest["kind"]) if manifest is not None else None
    if kind is None:
        raise UserError(f"{run}: not an adapter run (its adaptlab.yaml must name a kind over a base: "
                        f"{', '.join(registry.run_kinds())})")
    if kind.merge is None:
        raise UserError(f"{run}: a {kind.name} run does not merge into its base's weights")
    refuse_existing(out_dir)
    loaded = load_model(run)
    try:
        merged = kind.merge(loaded.model)
    except ValueError as exc:
        raise UserError(f"{run}: {exc}") from None
    with publish_dir(out_dir) as tmp:
        merged.save_pretrained(tmp / "model")
        loaded.tokenizer.save_pretrained(tmp / "model")
        write_run_manifest(tmp, family=loaded.family, model="model", chat=loaded.chat)
    return out_dir
