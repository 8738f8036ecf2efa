"""`precision: auto`: bf16 autocast only on hardware that computes it and only when it measures faster."""

from __future__ import annotations

import json

import pytest
import torch

import adaptlab.train.precision as precision
from adaptlab.train.loop import pretrain
from adaptlab.train.precision import PrecisionChoice, choose_precision, cpu_bf16_flags, measure_bf16_speedup
from helpers import tiny_config

CPU = torch.device("cpu")


def _never() -> float:
    raise AssertionError("measured on a CPU without native bf16")


def test_auto_keeps_fp32_on_a_cpu_without_native_bf16_without_measuring():
    choice = choose_precision("auto", CPU, _never, cpu_flags=[])
    assert (choice.chosen, choice.autocast_dtype) == ("fp32", None) and "no native bf16" in choice.reason


@pytest.mark.parametrize(("speedup", "chosen"), [(1.9, "bf16"), (1.05, "fp32")])
def test_auto_on_a_bf16_cpu_follows_the_measurement(speedup, chosen):
    choice = choose_precision("auto", CPU, lambda: speedup, cpu_flags=["avx512_bf16"])
    assert choice.chosen == chosen and choice.bf16_speedup == speedup
    assert "avx512_bf16" in choice.reason and f"{speedup:.2f}x" in choice.reason


def test_an_explicit_request_is_honoured_and_a_slow_one_is_named():
    assert choose_precision("fp32", CPU, _never, cpu_flags=["avx512_bf16"]).chosen == "fp32"
    slow = choose_precision("bf16", CPU, _never, cpu_flags=[])
    assert slow.autocast_dtype is torch.bfloat16 and "far slower" in slow.reason


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert cpu_bf16_flags(info) == ["avx512_bf16"]
    info.write_text("flags : fpu avx2 fma\n")
    assert cpu_bf16_flags(info) == []
    assert cpu_bf16_flags(tmp_path / "missing") == []


def test_the_measurement_alternates_both_dtypes_and_reports_fp32_over_bf16():
    calls: list[torch.dtype | None] = []

    def step(dtype):
        calls.append(dtype)
        torch.zeros(1)  # no work: the ratio is noise around 1, the order is what is checked

    speedup = measure_bf16_speedup(step, rounds=3, budget_seconds=0.0)
    assert calls == [None, torch.bfloat16] + [None, torch.bfloat16] * 3 and speedup > 0


@pytest.mark.parametrize("flags", [[], ["avx512_bf16"]])
def test_a_run_records_its_choice_and_a_resumed_run_keeps_it(shards_dir, tmp_path, monkeypatch, flags):
    """Both CPU paths on any host: the flags are forced; on the bf16 path the measurement is forced too."""
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    monkeypatch.setattr("adaptlab.train.loop.measure_bf16_speedup",
                        lambda step: (step(None), step(torch.bfloat16), 3.0)[2])
    result = pretrain(tiny_config(shards_dir, tmp_path / "run", steps=10, precision="auto"), progress=False)
    saved = json.loads((tmp_path / "run" / "precision.json").read_text())
    expected = "bf16" if flags else "fp32"
    assert saved["chosen"] == expected and saved["requested"] == "auto" and result.precision.chosen == expected
    assert json.loads((tmp_path / "run" / "cost.json").read_text())["precision"] == expected
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"] + 0.5  # it trained, in either precision
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ["avx512_bf16"] if not flags else [])
    pretrain(tiny_config(shards_dir, tmp_path / "run", steps=12, precision="auto"), resume=True, progress=False)
    assert PrecisionChoice.load(tmp_path / "run").chosen == expected  # not re-decided on another footing


def test_bf16_training_reaches_the_fp32_validation_loss(shards_dir, tmp_path):
    losses = {}
    for name in ("fp32", "bf16"):
        result = pretrain(tiny_config(shards_dir, tmp_path / name, steps=30, precision=name), progress=False)
        losses[name] = result.history[-1]["val_loss"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.03), losses


def test_bf16_on_a_cpu_trains_with_eager_attention(shards_dir, tmp_path, monkeypatch):
    """SDPA's bf16 backward on a CPU is slower than its fp32 one: bf16 runs switch attention to eager."""
    from transformers import PreTrainedModel

    chosen: list[str] = []
    original = PreTrainedModel.set_attn_implementation
    monkeypatch.setattr(PreTrainedModel, "set_attn_implementation",
                        lambda self, name: (chosen.append(name), original(self, name))[1])
    pretrain(tiny_config(shards_dir, tmp_path / "fp32", steps=2, precision="fp32"), progress=False)
    assert chosen == ["sdpa"]
    chosen.clear()
    pretrain(tiny_config(shards_dir, tmp_path / "bf16", steps=2, precision="bf16"), progress=False)
    assert chosen == ["eager"]
