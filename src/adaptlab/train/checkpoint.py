"""Atomic checkpoints: a kill at any moment leaves the last good one intact.

A checkpoint is a folder (model weights as safetensors, optimizer state, trainer
state as JSON) written beside the old one under a temporary name, then swapped in by
rename. Nothing is unpickled on load: weights come from safetensors, the optimizer
from `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from adaptlab.errors import UserError
from adaptlab.fileio import previous, publish_dir

CHECKPOINT_DIR = "checkpoint"


def save_checkpoint(run_dir: Path, model_state: dict[str, torch.Tensor], optim_state: dict[str, Any],
                    trainer_state: dict[str, Any]) -> Path:
    final = run_dir / CHECKPOINT_DIR
    with publish_dir(final, durable=True) as tmp:
        # Tied weights share storage; safetensors refuses shared tensors, so store copies.
        save_file({k: v.detach().contiguous().clone() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
        torch.save(optim_state, tmp / "optimizer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
    return final


def load_checkpoint(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Model state, optimizer state and trainer state of a run's last checkpoint."""
    path = run_dir / CHECKPOINT_DIR
    if not path.is_dir() and previous(path).is_dir():
        path = previous(path)  # killed between the two renames
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"{run_dir}: no checkpoint to resume from (expected {run_dir / CHECKPOINT_DIR})")
    model_state = load_file(str(path / "model.safetensors"))
    optim_state = torch.load(path / "optimizer.pt", weights_only=True)
    trainer_state = json.loads((path / "trainer_state.json").read_text())
    return model_state, optim_state, trainer_state
