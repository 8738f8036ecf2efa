"""Fingerprints change with anything that changes answers (a weight, the dtype, the tokenizer's chat
template, a rendering setting) and with nothing else (a reload of the same folder)."""

from __future__ import annotations

import torch

from adaptlab.fingerprint import model_digest, tensors_digest

from helpers import save_random_model


def test_a_weight_or_its_dtype_changes_the_tensors_digest():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    same = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    same.load_state_dict(model.state_dict())
    assert tensors_digest(model) == tensors_digest(same)
    with torch.no_grad():
        same[0].weight[1, 2] += 1e-6
    assert tensors_digest(model) != tensors_digest(same)
    assert tensors_digest(model) != tensors_digest(model.to(torch.bfloat16))


def test_the_tokenizer_and_settings_are_part_of_a_models_digest(tokenizer_dir, tmp_path):
    from adaptlab.lm import HFCausalLM
    from adaptlab.tokenization.train import load_tokenizer

    folder = save_random_model(load_tokenizer(tokenizer_dir), tmp_path / "tiny", layers=1, seed=0)
    lm, again = HFCausalLM.from_path(folder), HFCausalLM.from_path(folder)
    assert lm.fingerprint() == again.fingerprint()
    assert model_digest(lm.model, lm.tokenizer, chat=True) != model_digest(lm.model, lm.tokenizer, chat=False)
    before = model_digest(lm.model, lm.tokenizer)
    again.tokenizer.chat_template = "{{ messages[0]['content'] }}"
    assert model_digest(again.model, again.tokenizer) != before
