"""Fold a LoRA/DoRA adapter into its base: the result is a plain model folder that
transformers (and vLLM, TGI...) load with no peft at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from adaptlab.errors import UserError
from adaptlab.runs import load_model, read_manifest, write_run_manifest


def merge_lora(run: Path, out_dir: Path) -> Path:
    manifest = read_manifest(run)
    if manifest is None or manifest["kind"] != "peft":
        raise UserError(f"{run}: not an adapter run (its adaptlab.yaml must say kind: peft)")
    loaded = load_model(run)
    if not hasattr(loaded.model, "merge_and_unload") or loaded.model.peft_config["default"].peft_type.value != "LORA":
        raise UserError(f"{run}: only LoRA/DoRA adapters merge into the base weights; "
                        f"this one is {loaded.model.peft_config['default'].peft_type.value}")
    if out_dir.exists():
        raise UserError(f"{out_dir}: already exists; choose another --out")
    merged = loaded.model.merge_and_unload()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp / "model")
    loaded.tokenizer.save_pretrained(tmp / "model")
    write_run_manifest(tmp, family=loaded.family, model="model", chat=loaded.chat)
    os.replace(tmp, out_dir)
    return out_dir
