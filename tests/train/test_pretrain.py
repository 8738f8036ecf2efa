"""Pretraining end to end on tiny models: each family learns, artifacts reload, resume is exact."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

from adaptlab.errors import UserError
from adaptlab.models.presets import SpecialIds, build_model
from adaptlab.tokenization.train import load_tokenizer
from adaptlab.train.loop import Trainer, pretrain
from helpers import tiny_config

AUTO = {"decoder": AutoModelForCausalLM, "encoder": AutoModelForMaskedLM, "encoder-decoder": AutoModelForSeq2SeqLM}


@pytest.mark.parametrize("family", ["decoder", "encoder", "encoder-decoder"])
def test_each_family_learns_and_reloads_with_plain_transformers(family, shards_dir, tokenizer_dir, tmp_path):
    cfg = tiny_config(shards_dir, tmp_path / family, family=family, steps=40, eval_every=20)
    result = pretrain(cfg, progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert result.stopped == "completed" and result.steps == 40
    untrained = math.log(400)  # uniform over the tokenizer's vocabulary
    assert losses[-1] < losses[0] and losses[-1] < untrained - 0.8, losses
    records = [json.loads(line) for line in (tmp_path / family / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [20, 40]
    assert (tmp_path / family / "loss_curve.png").stat().st_size > 1000

    # The exported folder, loaded with no adaptlab code, equals the final checkpoint's weights.
    plain = AUTO[family].from_pretrained(tmp_path / family / "model").eval()
    tok = load_tokenizer(tmp_path / family / "model")
    rebuilt = build_model(cfg.model, len(tok), SpecialIds(tok.pad_token_id, tok.bos_token_id, tok.eos_token_id))
    rebuilt.load_state_dict(load_file(str(tmp_path / family / "checkpoint" / "model.safetensors")))
    rebuilt.eval()
    ids = torch.tensor([tok("The compound is", add_special_tokens=False)["input_ids"]])
    extra = {"decoder_input_ids": ids[:, :3]} if family == "encoder-decoder" else {}
    with torch.no_grad():
        assert torch.equal(plain(input_ids=ids, **extra).logits, rebuilt(input_ids=ids, **extra).logits)


def test_resume_after_a_crash_ends_where_an_uninterrupted_run_ends(shards_dir, tmp_path):
    straight = pretrain(tiny_config(shards_dir, tmp_path / "straight", steps=20), progress=False)

    def crash(step: int) -> None:
        if step == 15:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        pretrain(tiny_config(shards_dir, tmp_path / "resumed", steps=20), progress=False, on_step=crash)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 10  # the last periodic checkpoint survived the crash
    resumed = pretrain(tiny_config(shards_dir, tmp_path / "resumed", steps=20), progress=False, resume=True)

    assert resumed.steps == straight.steps == 20
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.history[-1]["val_loss"] == straight.history[-1]["val_loss"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) + steps.count(10) + steps.count(20) - 2


def test_existing_run_folder_is_not_overwritten_without_resume(decoder_run, shards_dir):
    with pytest.raises(UserError, match="already holds a run"):
        pretrain(tiny_config(shards_dir, decoder_run), progress=False)


def _rising_evaluations(monkeypatch, values):
    it = iter(values)
    monkeypatch.setattr(Trainer, "evaluate", lambda self: next(it))


def test_early_stopping_triggers_on_rising_validation_loss(shards_dir, tmp_path, monkeypatch):
    _rising_evaluations(monkeypatch, [3.0, 3.1, 3.2, 3.3, 3.4, 3.5])
    result = pretrain(tiny_config(shards_dir, tmp_path / "run", steps=60, patience=2), progress=False)
    assert result.stopped == "early_stopping"
    assert result.steps == 30  # evaluations at 10, 20, 30: two without improvement
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_overtraining_warns_and_can_stop(shards_dir, tmp_path, monkeypatch):
    _rising_evaluations(monkeypatch, [3.0, 3.1, 3.2, 3.3, 3.4, 3.5])
    result = pretrain(tiny_config(shards_dir, tmp_path / "run", steps=60, overtrain_window=3,
                                  stop_on_overtrain=True, lr=1e-2), progress=False)
    assert result.stopped == "overtraining" and result.steps == 30
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 30, "event": "overtraining"} in events
    train_losses = [h["train_loss"] for h in result.history]
    assert train_losses[-1] < train_losses[0]  # the detector needs training loss to fall


def test_too_long_sequence_is_a_clear_error(shards_dir, tmp_path):
    with pytest.raises(UserError, match=r"train.seq_len 64 exceeds the model.s context of 32 tokens"):
        pretrain(tiny_config(shards_dir, tmp_path / "run", seq_len=64), progress=False)


def test_ctrl_c_checkpoints_the_current_step_and_resume_finishes(shards_dir, tmp_path):
    def press_ctrl_c(step: int) -> None:
        if step == 7:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = pretrain(tiny_config(shards_dir, tmp_path / "run", steps=20), progress=False, on_step=press_ctrl_c)
    assert stopped.stopped == "interrupted" and stopped.steps == 7
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["step"] == 7
    assert not (tmp_path / "run" / "model").exists()
    finished = pretrain(tiny_config(shards_dir, tmp_path / "run", steps=20), progress=False, resume=True)
    assert finished.stopped == "completed" and finished.steps == 20
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
