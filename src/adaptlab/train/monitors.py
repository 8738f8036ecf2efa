"""Decisions taken at each evaluation: early stopping and overtraining detection."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EarlyStopping:
    """Stop after `patience` evaluations that fail to beat the best by `min_delta`."""

    patience: int | None
    min_delta: float = 0.0
    best: float = float("inf")
    bad_evals: int = 0

    def update(self, val_loss: float) -> bool:
        """Record an evaluation; True when training should stop."""
        if val_loss < self.best - self.min_delta:
            self.best = val_loss
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        return self.patience is not None and self.bad_evals >= self.patience


@dataclass
class OvertrainingDetector:
    """Validation loss rising while training loss falls, over `window` evaluations."""

    window: int
    history: list[tuple[float, float]] = field(default_factory=list)

    def update(self, train_loss: float, val_loss: float) -> bool:
        self.history.append((train_loss, val_loss))
        recent = self.history[-self.window :]
        if len(recent) < self.window:
            return False
        val_rising = all(b[1] > a[1] for a, b in zip(recent, recent[1:]))
        train_falling = recent[-1][0] < recent[0][0]
        return val_rising and train_falling
