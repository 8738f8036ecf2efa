"""Supervised fine-tuning: targets are the assistant's tokens only; packing; behaviour SFT runs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import TINY_MODEL, TINY_TRAIN

from adaptlab.corpus.synth import check_format
from adaptlab.errors import UserError
from adaptlab.evaluation.tasks import format_compliance, read_instructions
from adaptlab.lm import LM, HFCausalLM
from adaptlab.runs import load_model
from adaptlab.tokenization.chat import ensure_chat_template
from adaptlab.tokenization.train import load_tokenizer
from adaptlab.train.loop import pretrain
from adaptlab.train.objectives import IGNORE
from adaptlab.train.settings import PretrainConfig
from adaptlab.train.sft_data import encode_example, pack, read_examples


@pytest.fixture
def tokenizer(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    ensure_chat_template(tok)
    return tok


def test_only_the_assistant_tokens_and_eos_are_targets(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Dose of Vorantide?"},
                {"role": "assistant", "content": "318 mg"}, {"role": "user", "content": "And its gene?"},
                {"role": "assistant", "content": "MWZ-53"}]
    ids, targets = encode_example(tokenizer, messages)
    target_text = tokenizer.decode([i for i, t in zip(ids, targets) if t and i != tokenizer.eos_token_id])
    assert target_text == "318 mg\nMWZ-53\n"
    assert sum(1 for i, t in zip(ids, targets) if t and i == tokenizer.eos_token_id) == 2
    assert tokenizer.decode(ids[: targets.index(True)]).endswith("<|assistant|>\n")


def test_packing_shares_rows_and_shifts_labels(tokenizer):
    example = encode_example(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}])
    assert 4 * len(example[0]) < 128
    packed = pack([example] * 4, seq_len=128, pad_id=tokenizer.pad_token_id)
    unpacked = pack([example] * 4, seq_len=128, pad_id=tokenizer.pad_token_id, pack_rows=False)
    assert len(packed["input_ids"]) == 1 and len(unpacked["input_ids"]) == 4
    ids, targets = example
    row_labels = unpacked["labels"][0, : len(ids) - 1].tolist()
    assert row_labels == [t if is_t else IGNORE for t, is_t in zip(ids[1:], targets[1:])]


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "only a prompt"}\n')
    with pytest.raises(UserError, match=r"sft.jsonl:2: missing field 'response' \(accepted: prompt \+ response"):
        read_examples(path)
    path.write_text('{"messages": [{"role": "user", "content": "a"}]}\n')
    with pytest.raises(UserError, match=r"sft.jsonl:1: the last message must be the assistant's"):
        read_examples(path)


def test_behavioural_sft_trains_on_format_instructions_and_is_measured(decoder_run, corpus_dir, tmp_path):
    synth = corpus_dir.parent / "synth"
    cfg = PretrainConfig(out=tmp_path / "sft", base=decoder_run, sft={"train_file": synth / "instructions_train.jsonl"},
                         model=TINY_MODEL, train={**TINY_TRAIN, "steps": 30, "seq_len": 32, "eval_every": 15})
    result = pretrain(cfg, progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert losses[-1] < losses[0], losses
    assert "val_bits_per_byte" not in result.history[-1]
    loaded = load_model(tmp_path / "sft")
    assert loaded.tokenizer.chat_template  # the template travels with the model
    records = read_instructions(synth / "instructions_eval.jsonl")[:4]
    lm = HFCausalLM.from_path(tmp_path / "sft")
    scores = format_compliance(lm, records, {"until": [], "max_gen_toks": 8})
    # The same greedy answers generated through the chat template by hand, checked here one by one.
    from adaptlab.engine.generate import generate
    from adaptlab.engine.requests import GenerationSettings
    from adaptlab.tokenization.chat import render_prompt

    prompts = [render_prompt(loaded.tokenizer, [{"role": "user", "content": r["prompt"]}]) for r in records]
    answers = [g.text.strip() for g in generate(loaded.model, loaded.tokenizer, prompts,
                                                GenerationSettings(max_new_tokens=8, temperature=0))]
    compliant = [check_format(r["format"], a) for r, a in zip(records, answers)]
    assert scores["instructions"] == 4
    assert scores["format_compliance"] == sum(compliant) / 4
    assert scores["exact_match"] == sum(a == r["response"].strip() for r, a in zip(records, answers)) / 4
    # Every non-compliant answer is listed beside its reference, and only those.
    assert [(f["answer"], f["reference"]) for f in scores["failures"]] == \
        [(a, r["response"]) for r, a, c in zip(records, answers, compliant) if not c]
    assert json.loads((tmp_path / "sft" / "cost.json").read_text())["trainable_share"] == 1.0


class _Answering(LM):
    """An LM whose answers are given, padded as a model's would be, asked exactly as the task asks."""

    def __init__(self, answers: list[str]):
        self.answers = answers

    def loglikelihood(self, requests):
        raise AssertionError("format compliance generates")

    loglikelihood_rolling = loglikelihood

    def generate_until(self, requests):
        assert [kw for _, kw in requests] == [{"until": ["\n\n"], "max_gen_toks": 96}] * len(self.answers)
        return [f" {a}\n" for a in self.answers]


def test_compliance_exact_match_and_content_accuracy_count_known_answers(corpus_dir):
    """Answers whose form and facts are known: two references (compliant, exact, facts right), a JSON
    reference with another name (compliant, a fact wrong), a reference after a preamble (neither) and a
    JSON reference spread over lines (not compliant, facts right): 3/5 compliant, 2/5 exact, 3/5 right."""
    records = read_instructions(corpus_dir.parent / "synth" / "instructions_eval.jsonl")
    renamed, spread = [r for r in records if r["format"]["kind"] == "json"][:2]
    first, second, chatty = [r for r in records if r not in (renamed, spread)][:3]
    records = [first, second, renamed, chatty, spread]
    answers = [first["response"], second["response"],
               json.dumps({**json.loads(renamed["response"]), "name": "Renamed"}), f"Sure: {chatty['response']}",
               json.dumps(json.loads(spread["response"]), indent=1)]
    assert [check_format(r["format"], a) for r, a in zip(records, answers)] == [True, True, True, False, False]
    scores = format_compliance(_Answering(answers), records)
    assert (scores["format_compliance"], scores["exact_match"], scores["content_accuracy"]) == (0.6, 0.4, 0.6)
    fields = [len(r["format"]["fields"]) for r in records]
    assert scores["fields_correct"] == (fields[0] + fields[1] + fields[2] - 1 + fields[4]) / sum(fields)
    assert [(f["answer"], f["reference"]) for f in scores["failures"]] == \
        [(answers[3], chatty["response"]), (answers[4], spread["response"])]


def test_an_sft_model_is_asked_through_its_chat_template(decoder_run, corpus_dir, tmp_path):
    synth = corpus_dir.parent / "synth"
    cfg = PretrainConfig(out=tmp_path / "sft", base=decoder_run, sft={"train_file": synth / "instructions_train.jsonl"},
                         train={**TINY_TRAIN, "steps": 4, "seq_len": 32, "eval_every": 4})
    pretrain(cfg, progress=False)
    chat, plain = HFCausalLM.from_path(tmp_path / "sft"), HFCausalLM.from_path(decoder_run)
    assert chat.chat and not plain.chat and load_model(tmp_path / "sft").chat
    prompt = chat.render("Dose of Vorantide?")
    assert prompt.startswith("<|user|>\nDose of Vorantide?") and prompt.endswith("<|assistant|>\n")
    raw = HFCausalLM(chat.model, chat.tokenizer)  # the same weights, asked without the template
    gen = {"until": [], "max_gen_toks": 6}
    assert chat.generate_until([("Dose of Vorantide?", gen)]) == raw.generate_until([(prompt, gen)])
    # Scored after the whole rendered prompt (its closing newline included), not lm-eval's whitespace shift.
    cont = chat.encode("318 mg")
    seq = ([chat.prefix_id, *chat.encode(prompt)] + cont)[-(chat.max_length + 1) :]  # the model's context
    with torch.no_grad():
        logprobs = torch.log_softmax(chat.model(input_ids=torch.tensor([seq[:-1]])).logits[0], -1)
    start = len(seq) - 1 - len(cont)
    expected = sum(logprobs[start + i, t].item() for i, t in enumerate(cont))
    assert chat.loglikelihood([("Dose of Vorantide?", "318 mg")])[0][0] == pytest.approx(expected, abs=1e-4)
    assert plain.render("Dose of Vorantide?") == "Dose of Vorantide?"


def test_sft_combines_with_an_adapter(decoder_run, corpus_dir, tmp_path):
    synth = corpus_dir.parent / "synth"
    cfg = PretrainConfig(out=tmp_path / "sft-lora", base=decoder_run, method={"name": "lora", "r": 4},
                         sft={"train_file": synth / "instructions_train.jsonl"},
                         train={**TINY_TRAIN, "steps": 6, "seq_len": 32, "eval_every": 3, "lr": 1e-2})
    result = pretrain(cfg, progress=False)
    assert result.trainable_parameters < result.parameters / 10
    loaded = load_model(tmp_path / "sft-lora")
    assert type(loaded.model).__name__.startswith("PeftModel") and loaded.tokenizer.chat_template
