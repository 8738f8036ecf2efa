"""The run's metrics.jsonl (one JSON object per logged step) and its loss-curve plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LN2 = math.log(2)


def loss_metrics(loss: float, tokens_per_byte: float | None, perplexity: bool = True) -> dict[str, float]:
    """Loss, perplexity (of a language model's loss) and (for a causal LM with known bytes) bits per byte."""
    out = {"loss": loss, **({"perplexity": math.exp(min(loss, 50.0))} if perplexity else {})}
    if tokens_per_byte is not None:
        out["bits_per_byte"] = loss / LN2 * tokens_per_byte
    return out


class MetricsLog:
    """Appends records; on resume, drops records past the checkpoint's step."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is None:
            path.write_text("")
        elif path.exists():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= resume_step]
            path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss_curves(metrics_path: Path, png_path: Path, title: str = "") -> Path:
    """Training and validation loss against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    train = [(r["step"], r["train_loss"]) for r in records if "lr" in r]  # per-log records, not eval summaries
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1.2)
    if val:
        ax.plot(*zip(*val), label="validation", marker="o", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title or "loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png_path)
    return png_path
