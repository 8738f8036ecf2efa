"""The LM interface over a trained decoder: scores agree with each other and with the model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.evaluation.perplexity import causal_metrics, evaluate_texts
from adaptlab.lm import HFCausalLM
from adaptlab.runs import load_model

TEXT = "The standard dose of the compound is taken twice."


@pytest.fixture(scope="module")
def lm(decoder_run) -> HFCausalLM:
    return HFCausalLM.from_path(decoder_run, batch_size=3)


def _manual_logprob(lm: HFCausalLM, ids: list[int]) -> float:
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids[:-1]])).logits[0]
    return F.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None]).sum().item()


def test_rolling_equals_continuation_from_empty_context_and_the_model(lm):
    ids = [lm.prefix_id, *lm.encode(TEXT)]
    assert len(ids) <= lm.max_length + 1
    (rolling,) = lm.loglikelihood_rolling([TEXT])
    ((from_empty, _),) = lm.loglikelihood([("", TEXT)])
    assert rolling == pytest.approx(_manual_logprob(lm, ids), abs=1e-4)
    assert from_empty == pytest.approx(rolling, abs=1e-4)


def test_long_text_is_scored_in_disjoint_windows(lm):
    text = " ".join([TEXT] * 8)
    windows = lm.rolling_windows(text)
    assert len(windows) > 2 and sum(n for _, n in windows) == len(lm.encode(text))
    (rolling,) = lm.loglikelihood_rolling([text])
    assert rolling == pytest.approx(sum(_manual_logprob(lm, seq) for seq, _ in windows), abs=1e-3)


def test_batching_with_padding_does_not_change_scores(lm):
    requests = [("The compound", " is taken"), ("A", " gene"), ("Long context " * 5, "and more words here")]
    together = lm.loglikelihood(requests)
    alone = [lm.loglikelihood([r])[0] for r in requests]
    for (a, _), (b, _) in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-4)


def test_generation_batches_requests_with_the_same_settings_and_answers_each_as_alone(lm, monkeypatch):
    import adaptlab.lm

    short, long = {"until": ["\n"], "max_gen_toks": 6}, {"until": ["\n"], "max_gen_toks": 9}
    copy = {**short, "copy_from": ["The compound is taken twice."]}
    requests = [("The compound", short), ("A gene", short), ("Long context " * 5, short), ("The dose", short),
                ("The", long), ("Its", copy), ("Tw", {**copy, "copy_from": ["twice daily"]})]
    alone = [lm.generate_until([r])[0] for r in requests]
    sizes: list[int] = []
    real = adaptlab.lm.generate
    monkeypatch.setattr(adaptlab.lm, "generate", lambda model, tok, prompts, *a: sizes.append(len(prompts)) or
                        real(model, tok, prompts, *a))
    assert lm.generate_until(requests) == alone
    assert sizes == [3, 1, 1, 2]  # batch_size 3; a change of settings starts a new batch; copy sources per request


def test_greedy_flag_marks_the_greedy_continuation(lm):
    context = "The compound"
    (greedy,) = lm.generate_until([(context, {"until": ["\n\n"], "max_gen_toks": 4, "do_sample": False})])
    assert greedy
    ((_, is_greedy),) = lm.loglikelihood([(context, greedy)])
    assert is_greedy
    ((_, other),) = lm.loglikelihood([(context, greedy + " zzqx")])
    assert not other


def test_causal_metrics_relate_loss_perplexity_and_bits_per_byte(lm):
    metrics = causal_metrics(lm, [TEXT, TEXT.upper()])
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    expected_bpb = metrics["loss"] * metrics["tokens"] / metrics["bytes"] / math.log(2)
    assert metrics["bits_per_byte"] == pytest.approx(expected_bpb)
    assert metrics["bytes"] == 2 * len(TEXT.encode())


def test_gen_kwargs_translate_to_settings():
    greedy = GenerationSettings.from_gen_kwargs({"until": "\n", "max_gen_toks": 7, "do_sample": False})
    assert (greedy.stop, greedy.max_new_tokens, greedy.temperature) == (["\n"], 7, 0.0)
    sampled = GenerationSettings.from_gen_kwargs({"do_sample": True, "temperature": 0.7, "top_p": 0.9})
    assert (sampled.temperature, sampled.top_p) == (0.7, 0.9)
    for settings in (greedy, sampled, GenerationSettings(max_new_tokens=5, temperature=0.3, top_k=4, seed=9)):
        assert GenerationSettings.from_gen_kwargs(settings.gen_kwargs()) == settings  # the one conversion, both ways
    openai = GenerationSettings.from_openai(max_tokens=9, temperature=None, top_p=1, stop=["."], seed=None)
    assert (openai.temperature, openai.top_p, openai.max_new_tokens, openai.stop) == (1.0, None, 9, ["."])


def test_non_causal_models_get_objective_loss(tmp_path, shards_dir):
    from helpers import tiny_config

    from adaptlab.train.loop import pretrain

    pretrain(tiny_config(shards_dir, tmp_path / "enc", family="encoder", steps=5, eval_every=5), progress=False)
    loaded = load_model(tmp_path / "enc")
    with pytest.raises(UserError, match="not a causal language model"):
        HFCausalLM(loaded.model, loaded.tokenizer)
    metrics = evaluate_texts(loaded, [TEXT * 4])
    assert metrics["objective"] == "masked" and 0 < metrics["loss"] < 10


@pytest.mark.parametrize(("flags", "texts", "chosen"), [
    ([], 40, "fp32"),  # no native bf16: fp32, never measured
    (["avx512_bf16"], 2, "fp32"),  # too little to score for a measurement to pay
    (["avx512_bf16"], 40, "bf16"),  # native bf16 measured faster (forced here): bf16 autocast
])
def test_auto_scoring_precision_is_chosen_once_and_named(decoder_run, monkeypatch, flags, texts, chosen):
    """Both CPU paths on any host: the flags and the measurement are forced."""
    import adaptlab.lm as lm_module
    import adaptlab.train.precision as precision

    measured = []
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    monkeypatch.setattr(lm_module, "measure_bf16_speedup", lambda forward: (measured.append(1), forward(None), 2.0)[2])
    loaded = load_model(decoder_run)
    documents = [f"{TEXT} Number {i}." for i in range(texts)]
    metrics = evaluate_texts(loaded, documents, batch_size=4, precision="auto")
    assert metrics["precision"] == chosen and len(measured) == (chosen == "bf16")
    exact = evaluate_texts(loaded, documents, batch_size=4)
    assert exact["precision"] == "fp32"
    assert metrics["loss"] == pytest.approx(exact["loss"], rel=0.02 if chosen == "bf16" else 1e-6)
    assert (metrics["loss"] != exact["loss"]) == (chosen == "bf16")  # bf16 rounding shows: autocast was on
