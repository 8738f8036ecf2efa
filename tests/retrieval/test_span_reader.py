"""The extractive reader: an encoder fine-tuned on prompt/response pairs to point at the response
in its prompt (`train.span_data`), asked through the LM interface (`retrieval.span_reader`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from helpers import TINY_TRAIN, one_torch_thread, tiny_config
from retrieval.rag_fakes import hit

from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.retrieval.rag import format_rag_prompt, passage_labels, passages_end
from adaptlab.retrieval.span_reader import SpanReader, best_span, load_reader, span_bounds
from adaptlab.tokenization.train import load_tokenizer
from adaptlab.train.span_data import span_example

COLORS = ("red", "blue", "green", "black", "white", "brown")
GEN = {"until": ["\n"], "max_gen_toks": 8}


def fact_prompts(n: int, seed: int) -> list[dict[str, str]]:
    """A weight and a note (a color) in the passage and a question for one: a reader that ignores the question
    gets half of them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        facts = {"weight": str(rng.randrange(100, 1000)), "note": rng.choice(COLORS)}
        sentences = [f"The {name} is {value}." for name, value in facts.items()]
        rng.shuffle(sentences)
        asked = rng.choice(sorted(facts))
        prompt = format_rag_prompt([hit("d", " ".join(sentences))], f"What is the {asked}?")
        rows.append({"prompt": prompt, "response": facts[asked]})
    return rows


@pytest.fixture(scope="module")
def encoder_run(shards_dir, tmp_path_factory) -> Path:
    from adaptlab.train.loop import pretrain

    out = tmp_path_factory.mktemp("span") / "encoder"
    with one_torch_thread():
        pretrain(tiny_config(shards_dir, out, family="encoder", model={"max_seq_len": 64}, steps=10, seq_len=64),
                 progress=False)
    return out


@pytest.fixture(scope="module")
def span_run(encoder_run, tmp_path_factory) -> Path:
    """The tiny encoder fine-tuned on 600 fact prompts (300 steps)."""
    from adaptlab.train.loop import pretrain
    from adaptlab.train.settings import PretrainConfig

    work = tmp_path_factory.mktemp("span")
    (work / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in fact_prompts(600, seed=0)))
    cfg = PretrainConfig(out=work / "reader", base=encoder_run, sft={"train_file": work / "train.jsonl"},
                         train={**TINY_TRAIN, "steps": 300, "seq_len": 64, "batch_size": 16, "eval_every": 300})
    with one_torch_thread():
        pretrain(cfg, progress=False)
    return work / "reader"


def test_the_target_is_the_responses_first_occurrence_and_a_long_prompt_keeps_its_end(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    prompt = "Alpha is 10 mg. Beta is 10 mg.\n\nQuestion: What is Alpha?\nAnswer:"
    ids, start, end = span_example(tok, prompt, "10 mg", seq_len=200)
    offsets = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert prompt[offsets[start][0] : offsets[end][1]].strip() == "10 mg"
    assert offsets[end][1] <= prompt.index("Beta")  # the first of the two
    cut_ids, cut_start, cut_end = span_example(tok, prompt, "10 mg", seq_len=len(ids) - 2)
    assert cut_ids == ids[2:] and (cut_start, cut_end) == (start - 2, end - 2)
    with pytest.raises(UserError, match="'7 mg' is not written in its prompt"):
        span_example(tok, prompt, "7 mg", seq_len=200)
    with pytest.raises(UserError, match="falls outside the last 8 tokens"):
        span_example(tok, prompt, "10 mg", seq_len=8)


def test_the_best_span_starts_and_ends_on_allowed_tokens_within_the_length_limit():
    start, end = torch.tensor([0.0, 5.0, 0.0, 9.0]), torch.tensor([0.0, 0.0, 6.0, 8.0])
    every = torch.tensor([True] * 4)
    passages = torch.tensor([True, True, True, False])
    assert best_span(start, end, passages, passages, longest=4) == (1, 2)
    assert best_span(start, end, passages, passages, longest=1) == (2, 2)
    assert best_span(start, end, every, every, longest=4) == (3, 3)
    assert best_span(start, end, torch.tensor([True, False, True, False]), every, longest=4) == (0, 3)
    assert best_span(start, end, every, torch.tensor([False, True, False, False]), longest=4) == (1, 1)
    assert best_span(start, end, torch.zeros(4, dtype=torch.bool), every, longest=4) is None


def test_answers_start_and_end_at_word_boundaries_inside_the_passages(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    prompt = format_rag_prompt([hit("d", "Zikmina Laboratories holds KSD-31*7.")], "Who holds it?")
    enc = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    starts, ends = span_bounds(prompt, offsets, len(offsets) + 2)
    assert len(starts) == len(offsets) + 2 and not starts[-2:].any() and not ends[-2:].any()  # padding
    pieces = [prompt[a:b] for a, b in offsets]
    firsts = [a + len(p) - len(p.lstrip()) for (a, _), p in zip(offsets, pieces)]
    finished = {prompt[: offsets[i][1]].split()[-1] for i in range(len(offsets)) if ends[i]}
    word_tokens = {f: i for i, f in enumerate(firsts) if pieces[i].strip()}
    assert starts[word_tokens[prompt.index("Zikmina")]] and starts[word_tokens[prompt.index("KSD")]]
    for i, (a, b) in enumerate(offsets):
        if starts[i]:  # no span starts inside a word
            assert firsts[i] == 0 or not prompt[firsts[i] - 1].isalnum()
        if ends[i]:
            assert b == len(prompt) or not prompt[b].isalnum()
        if b > passages_end(prompt):
            assert not starts[i] and not ends[i]
    assert "Laboratories" in finished and "KSD-31*7" in finished and "KSD" not in finished  # a code is one word


def test_no_answer_starts_in_a_passages_doc_id_label(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    prompt = format_rag_prompt([hit("docs/compound-0001.txt", "Groruvaset: compound monograph."),
                                hit("notes [draft]", "Its name is [Kelomin] here.\n\n[x] A paragraph.")], "name?")
    # a paragraph of a passage that opens like a label is taken for one
    labels = passage_labels(prompt)
    assert [prompt[a:b] for a, b in labels] == ["[docs/compound-0001.txt] ", "[notes [draft]] ", "[x] "]
    offsets = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    starts, _ = span_bounds(prompt, offsets, len(offsets))
    firsts = [a + len(prompt[a:b]) - len(prompt[a:b].lstrip()) for a, b in offsets]
    begun = [f for f, ok in zip(firsts, starts) if ok]
    assert not any(a <= f < b for f in begun for a, b in labels)  # neither the file name nor the '[x] '
    assert prompt.index("Groruvaset") in begun and prompt.index("[Kelomin]") in begun  # the text is all there


def test_the_passages_end_where_the_question_begins():
    prompt = format_rag_prompt([hit("d", "Question: odd passage.")], "Why?")
    assert prompt[: passages_end(prompt)] == "[d] Question: odd passage.\n\n"
    assert passages_end(format_rag_prompt([], "Why?")) == 0
    assert passages_end("no question here") == len("no question here")


def test_a_fine_tuned_encoder_points_at_the_answer_its_question_asks_for(span_run, encoder_run):
    held_out = fact_prompts(60, seed=1)
    reader = SpanReader.from_path(span_run)
    answers = reader.generate_until([(r["prompt"], GEN) for r in held_out])
    trained = sum(a == r["response"] for a, r in zip(answers, held_out)) / len(held_out)
    assert all(a in r["prompt"][: passages_end(r["prompt"])] for a, r in zip(answers, held_out))
    assert trained >= 0.9  # a reader that ignores the question scores about 0.5
    closed = reader.generate_until([(format_rag_prompt([], "What is the weight?"), GEN)])
    assert closed == [""]  # nothing to point at
    manifest = (span_run / "adaptlab.yaml").read_text()
    assert "family: encoder" in manifest and "chat" not in manifest
    assert isinstance(load_reader(span_run), SpanReader)
    with pytest.raises(UserError, match="cannot score text"):
        reader.loglikelihood([("a", "b")])
    with pytest.raises(UserError, match="not an extractive reader"):
        SpanReader.from_path(encoder_run)


def test_a_decoder_run_loads_as_a_generative_reader(decoder_run):
    assert isinstance(load_reader(decoder_run), HFCausalLM)


def test_an_extractive_reader_trains_all_its_weights(encoder_run, tmp_path):
    from adaptlab.train.loop import pretrain
    from adaptlab.train.settings import PretrainConfig

    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in fact_prompts(20, seed=0)))
    cfg = PretrainConfig(out=tmp_path / "reader", base=encoder_run, sft={"train_file": tmp_path / "train.jsonl"},
                         method="lora", train={**TINY_TRAIN, "seq_len": 64})
    with pytest.raises(UserError, match="trains all its weights; drop the adapter method"):
        pretrain(cfg, progress=False)
    assert not (tmp_path / "reader").exists()
