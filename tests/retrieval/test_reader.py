"""The reader recipe: supervised examples rendered as RagLM asks, the answer always in the
passages; exact match and the closed-book baseline."""

import json

import pytest
from retrieval.fakes import HashEmbedder
from retrieval.rag_fakes import CharReader, FixedSearcher, hit

from adaptlab.corpus.synth import PRACTICE_SEEDS, generate, practice_domains
from adaptlab.errors import UserError
from adaptlab.evaluation.tasks import knowledge_exact_match, normalize_answer
from adaptlab.retrieval.chunking import Chunk, ChunkSettings
from adaptlab.retrieval.rag import RagLM, format_rag_prompt
from adaptlab.retrieval.reader import (
    ANSWER_TOKENS,
    ClosedBookLM,
    answer_shape,
    domain_questions,
    practice_examples,
    reader_examples,
)

HITS = [hit("a", "Alpha is 10 mg."), hit("b", "Beta is blue."), hit("c", "Gamma is red.")]
GOLD = Chunk("d", 1, 0, 20, "Delta is given 7 mg.")
QUESTION = "What is Alpha?"


def rag(max_length: int = 10_000) -> RagLM:
    return RagLM(CharReader(max_length), FixedSearcher(HITS, extra=[GOLD]), k=3)


def test_examples_are_the_fitted_rag_prompt_when_the_answer_was_retrieved():
    r = rag()
    [example] = reader_examples(r, [{"question": QUESTION, "answer": "10 mg", "doc_id": "a"}], lambda d: d)
    assert example == {"prompt": format_rag_prompt(HITS, QUESTION), "response": "10 mg"}


def test_a_missed_answer_puts_the_gold_chunk_in_the_last_kept_place():
    two = len(format_rag_prompt([HITS[0], hit("d", GOLD.text)], QUESTION)) + ANSWER_TOKENS + 1
    [example] = reader_examples(rag(two), [{"question": QUESTION, "answer": "7 mg", "doc_id": "d"}], lambda d: d)
    assert example["prompt"] == format_rag_prompt([HITS[0], hit("d", GOLD.text)], QUESTION)
    one = len(format_rag_prompt([hit("d", GOLD.text)], QUESTION)) + ANSWER_TOKENS + 1  # room for the gold alone
    [example] = reader_examples(rag(one), [{"question": QUESTION, "answer": "7 mg", "doc_id": "d"}], lambda d: d)
    assert example["prompt"] == format_rag_prompt([hit("d", GOLD.text)], QUESTION)
    with pytest.raises(UserError, match="no chunk of d contains its answer '9 mg'"):
        reader_examples(rag(), [{"question": QUESTION, "answer": "9 mg", "doc_id": "d"}], lambda d: d)
    with pytest.raises(UserError, match="doc_id 'zz' is not in the index"):
        reader_examples(rag(), [{"question": QUESTION, "answer": "7 mg", "doc_id": "zz"}], lambda d: None)


def test_exact_match_normalises_and_the_closed_book_baseline_gets_no_passages():
    assert normalize_answer("  Zikmina  Laboratories. ") == normalize_answer("zikmina laboratories")
    records = [{"question": QUESTION, "answer": "10 MG."}, {"question": "Beta?", "answer": "blue"}]
    assert knowledge_exact_match(rag(), records)["exact_match"] == 0.5  # CharReader always answers " 10 mg"
    reader = CharReader(10_000)
    ClosedBookLM(reader).generate_until([(QUESTION, {"until": ["\n"]})])
    assert reader.prompts == [format_rag_prompt([], QUESTION)]
    with pytest.raises(UserError, match="no questions"):
        knowledge_exact_match(rag(), [])


def test_counterfactual_copies_swap_the_answer_for_one_of_the_same_shape_everywhere():
    assert answer_shape("22.6 hours") == answer_shape("8.1 days") == "9.9 a"
    assert answer_shape("KSD-31*7") == "a-9*9" != answer_shape("22.6 hours")
    records = [{"question": QUESTION, "answer": "10 mg", "doc_id": "a"},
               {"question": "Beta?", "answer": "blue", "doc_id": "b"},
               {"question": "Delta?", "answer": "7 mg", "doc_id": "d"}]
    plain = reader_examples(rag(), records, lambda d: d)
    examples = reader_examples(rag(), records, lambda d: d, counterfactuals=2)
    swapped = {"prompt": plain[0]["prompt"].replace("10 mg", "7 mg"), "response": "7 mg"}
    # Alpha gets one copy ("7 mg" is the only other answer shaped like "10 mg"); "blue" has no
    # other of its shape; Delta's only candidate, "10 mg", is already in its passages
    assert examples == [plain[0], swapped, plain[1], plain[2]]
    assert "10 mg" not in swapped["prompt"] and swapped["prompt"].count("7 mg") == 1


def test_practice_domains_ask_every_question_of_fresh_domains_over_their_own_index(tmp_path):
    chunking = ChunkSettings(64, 8)
    examples = practice_examples(CharReader(2000), practice_domains(1), tmp_path, HashEmbedder(), chunking, k=3)
    domain = generate(seed=PRACTICE_SEEDS)
    records = domain.records["qa_train.jsonl"] + domain.records["qa_eval.jsonl"]
    assert [e["response"] for e in examples] == [r["answer"] for r in records]
    assert all(e["prompt"].endswith(f"Question: {r['question']}\nAnswer:") and e["response"] in e["prompt"]
               and len(e["prompt"]) + ANSWER_TOKENS + 1 <= 2000 for e, r in zip(examples, records))
    assert (tmp_path / f"practice-{PRACTICE_SEEDS}").is_dir()  # indexed with the given chunking, in `work`
    assert json.loads((tmp_path / f"practice-{PRACTICE_SEEDS}" / "manifest.json").read_text())["chunking"] == \
        chunking.to_dict()
    # Fresh facts: no held-out fact of the evaluated domain (seed 0) is taught in practice (an invented
    # name may recur by chance, with other facts).
    evaluated = {(r["question"], r["answer"]) for r in generate(seed=0).records["qa_eval.jsonl"]}
    assert evaluated.isdisjoint((r["question"], r["answer"]) for r in records)


def test_with_fields_practice_asks_each_instruction_field_as_filling_asks_over_its_own_document(tmp_path):
    from adaptlab.corpus.synth_formats import field_values
    from adaptlab.retrieval.fill import field_question

    chunking = ChunkSettings(64, 8)
    domain = generate(seed=PRACTICE_SEEDS)
    plain = practice_examples(CharReader(2000), practice_domains(1), tmp_path, HashEmbedder(), chunking, k=3,
                              sentences=2)
    examples = practice_examples(CharReader(2000), practice_domains(1), tmp_path, HashEmbedder(), chunking, k=3,
                                 sentences=2, fields=True)
    assert examples[:len(plain)] == plain
    fields = examples[len(plain):]
    instructions = domain.records["instructions_train.jsonl"] + domain.records["instructions_eval.jsonl"]
    asked = {(field_question(f, r["prompt"]), v, r["doc_id"]) for r in instructions  # a field asked alike once
             for f, v in field_values(r["format"], r["response"]).items()}
    assert len(fields) == len(asked) and len({(e["prompt"], e["response"]) for e in fields}) == len(fields)
    by_question = {(q, v): doc for q, v, doc in asked}
    for e in fields:
        passages, q = e["prompt"].removesuffix("\nAnswer:").split("\n\nQuestion: ")
        doc = by_question[(q, e["response"])]  # asked as filling asks it, answered as the record holds it
        assert passages.startswith(f"[{doc}] ") and passages.count("[") == 1  # its own document only
        assert e["response"] in passages and len(passages.split(". ")) <= 2  # '450' of '450 mg', in 2 sentences


def test_with_file_names_every_other_practice_domain_names_its_documents_as_a_folder_read_as_a_corpus(tmp_path):
    examples = practice_examples(CharReader(2000), practice_domains(2, n_compounds=8), tmp_path, HashEmbedder(),
                                 ChunkSettings(64, 8), k=2, file_names=True)
    questions = [len(domain_questions(d)) for d in practice_domains(2, n_compounds=8)]
    first, second = examples[:questions[0]], examples[questions[0]:]
    assert len(second) == questions[1]
    assert all(e["prompt"].startswith("[compound-") or e["prompt"].startswith("[gene-")
               or e["prompt"].startswith("[interaction-") for e in first)
    assert all(e["prompt"].startswith("[docs/") and ".txt] " in e["prompt"] for e in second)
    assert all(e["response"] in e["prompt"] for e in examples)  # the gold document found under either name
