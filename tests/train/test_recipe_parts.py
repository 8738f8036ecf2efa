"""The small parts of the recipe: schedule, stopping rules, objectives (precision: test_precision.py)."""

from __future__ import annotations

import pytest
import torch

from adaptlab.train.monitors import EarlyStopping, OvertrainingDetector
from adaptlab.train.objectives import IGNORE, MaskedLM, SpanCorruption
from adaptlab.train.schedule import lr_at

SCHEDULE = dict(lr=1e-3, min_lr=1e-4, warmup_steps=10, total_steps=110)


def test_warmup_is_linear_then_cosine_decays_to_the_floor():
    assert lr_at(0, **SCHEDULE) == pytest.approx(1e-4)
    assert lr_at(9, **SCHEDULE) == pytest.approx(1e-3)
    assert lr_at(60, **SCHEDULE) == pytest.approx(0.55e-3)  # half-way down the cosine
    assert lr_at(110, **SCHEDULE) == pytest.approx(1e-4)
    values = [lr_at(s, **SCHEDULE) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_early_stopping_counts_evaluations_without_enough_improvement():
    stop = EarlyStopping(patience=2, min_delta=0.05)
    assert [stop.update(v) for v in (3.0, 2.9, 2.88, 2.87)] == [False, False, False, True]
    assert EarlyStopping(patience=None).update(9.0) is False


def test_overtraining_needs_rising_validation_and_falling_training_loss():
    detector = OvertrainingDetector(window=3)
    assert not any(detector.update(t, v) for t, v in [(3.0, 3.0), (2.8, 2.9), (2.6, 2.95)])
    assert detector.update(2.4, 3.0)  # validation 2.9 -> 2.95 -> 3.0 while training falls
    flat_train = OvertrainingDetector(window=3)
    assert not any(flat_train.update(3.0, v) for v in (3.0, 3.1, 3.2))


def test_masked_lm_masks_only_ordinary_tokens_at_the_configured_rate():
    objective = MaskedLM(mask_id=4, vocab_size=100, special_ids=(0, 1, 2, 3, 4), probability=0.15)
    windows = torch.randint(5, 100, (64, 64))
    windows[:, ::8] = 3  # separators are never targets
    batch = objective.make_batch(windows, torch.Generator().manual_seed(0))
    targets = batch["labels"] != IGNORE
    assert not targets[:, ::8].any()
    assert 0.10 < targets.float().mean().item() / (7 / 8) < 0.20
    assert (batch["input_ids"][targets] == 4).float().mean().item() == pytest.approx(0.8, abs=0.05)
    assert torch.equal(batch["input_ids"][~targets], windows[~targets])


def test_span_corruption_round_trips_through_its_sentinels():
    sentinels = tuple(range(90, 100))
    objective = SpanCorruption(sentinel_ids=sentinels, eos_id=3, pad_id=0)
    row = list(range(10, 74))
    inputs, targets = objective._corrupt(row, torch.Generator().manual_seed(1))
    spans: dict[int, list[int]] = {}
    current = None
    for t in targets[:-1]:
        if t in sentinels:
            current = t
            spans[t] = []
        else:
            spans[current].append(t)
    rebuilt = [tok for t in inputs[:-1] for tok in (spans[t] if t in sentinels else [t])]
    assert rebuilt == row and inputs[-1] == targets[-1] == 3
    assert sum(len(s) for s in spans.values()) == round(64 * 0.15)
