import re

import pytest

from adaptlab.errors import UserError
from adaptlab.retrieval.chunking import ChunkSettings, chunk_text, hf_token_spans, joined, sentences
from retrieval.fakes import bert_tokenizer


def words(text: str) -> list[tuple[int, int]]:
    """One token per whitespace-separated word: counts a reader can check by eye."""
    return [m.span() for m in re.finditer(r"\S+", text)]


def texts(text: str, max_tokens: int, overlap: int) -> list[str]:
    return [c.text for c in chunk_text("d", text, ChunkSettings(max_tokens, overlap), words)]


def test_paragraphs_merge_up_to_the_budget_and_stay_whole():
    doc = "a b c.\n\nd e f.\n\ng h i j k l m n."
    assert texts(doc, 8, 0) == ["a b c.\n\nd e f.", "g h i j k l m n."]


def test_an_oversize_paragraph_splits_on_sentences_then_hard_splits():
    doc = "One two three. Four five six seven. Eight nine. " + " ".join(f"w{i}" for i in range(20))
    assert texts(doc, 8, 0) == ["One two three. Four five six seven.", "Eight nine.", "w0 w1 w2 w3 w4 w5 w6 w7",
                                "w8 w9 w10 w11 w12 w13 w14 w15", "w16 w17 w18 w19"]


def test_overlap_repeats_the_last_tokens_from_a_sentence_start_when_it_can():
    doc = "a b c d. e f. g h i j."
    # budget 8, overlap 3: sentences of 4, 2, 4 words; the second chunk repeats "e f." (2 tokens, a sentence start)
    assert texts(doc, 8, 3) == ["a b c d. e f.", "e f. g h i j."]
    hard = " ".join(f"w{i}" for i in range(12))
    assert texts(hard, 8, 2) == ["w0 w1 w2 w3 w4 w5", "w4 w5 w6 w7 w8 w9 w10 w11"]


def test_a_paragraph_that_fits_alone_starts_a_new_chunk_rather_than_being_cut():
    doc = "a b c d e.\n\nf g h. i j k."
    assert texts(doc, 8, 0) == ["a b c d e.", "f g h. i j k."]


def test_chunks_keep_offsets_ids_and_fit_the_embedders_budget(small_docs):
    settings = ChunkSettings(max_tokens=48, overlap=12)
    spans = hf_token_spans(bert_tokenizer())
    for doc in small_docs[:6]:
        chunks = chunk_text(doc.id, doc.text, settings, spans)
        assert [c.index for c in chunks] == list(range(len(chunks))) and len(chunks) > 1
        for c in chunks:
            assert c.doc_id == doc.id and c.text == doc.text[c.start : c.end] == c.text.strip()
            assert len(bert_tokenizer()(c.text, add_special_tokens=False)["input_ids"]) <= 48
        covered = "".join(doc.text[c.start : c.end] for c in chunks)
        assert all(w in covered for w in doc.text.split())
        assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # they overlap


def test_a_documents_chunks_join_back_into_its_sentences_each_once():
    doc = "a b c d. e f. g h i j.\n\nk l m. n o p q r s t u v w x."
    chunks = chunk_text("d", doc, ChunkSettings(8, 3), words)
    assert chunks[1].start < chunks[0].end  # they overlap
    shuffled = [*chunks[::-1]]
    assert sentences(joined(shuffled)) == sentences(doc)  # overlaps once, gaps as breaks, in document order
    assert joined([]) == ""


def test_blank_documents_have_no_chunks_and_settings_are_checked():
    assert chunk_text("d", " \n\n ", ChunkSettings(), words) == []
    with pytest.raises(UserError, match="max_tokens=300: must be from 8 to 254"):
        ChunkSettings(max_tokens=300)
    with pytest.raises(UserError, match="overlap=70: must be from 0 to half"):
        ChunkSettings(max_tokens=128, overlap=70)
