import pytest

from adaptlab.errors import UserError
from adaptlab.retrieval.chunking import sentences
from adaptlab.retrieval.compress import Excerpt, compress
from adaptlab.retrieval.rag import RagLM, format_rag_prompt
from adaptlab.retrieval.reader import reader_examples

from retrieval.fakes import HashEmbedder
from retrieval.rag_fakes import CharReader, FixedSearcher, hit

HITS = [hit("a", "Alpha: a monograph\n\nAlpha is made by Zeta Labs. Alpha is blue.\n\nAlpha weighs 10 mg."),
        hit("b", "Beta is made by Omega Corp. Beta is red.")]
QUESTION = "Who is Alpha made by?"


def embedder() -> HashEmbedder:
    """Hashed words, wide enough that these few sentences collide on none."""
    words = HashEmbedder()
    words.dim = 256
    return words


def test_sentences_split_paragraphs_then_sentence_ends():
    assert sentences(HITS[0].text) == ["Alpha: a monograph", "Alpha is made by Zeta Labs.", "Alpha is blue.",
                                       "Alpha weighs 10 mg."]


def test_the_closest_sentences_are_kept_under_their_chunk_in_reading_order():
    words = embedder()
    [two] = compress([QUESTION], [HITS], words, 2)
    assert two == [Excerpt("a", "Alpha is made by Zeta Labs."), Excerpt("b", "Beta is made by Omega Corp.")]
    assert words.embedded == 1 + 6  # the question and six distinct sentences
    [blue, made] = compress(["Is Alpha blue?", QUESTION], [HITS, HITS], words, 2)
    assert blue == [Excerpt("a", "Alpha is made by Zeta Labs. Alpha is blue.")]  # document order, not rank
    assert made == two
    assert words.embedded == 7 + 2 + 6  # two questions, the same six sentences embedded once


def test_a_required_string_swaps_its_sentence_for_the_least_similar_kept():
    [kept] = compress([QUESTION], [HITS], embedder(), 2, required=["10 mg"])
    assert kept == [Excerpt("a", "Alpha is made by Zeta Labs. Alpha weighs 10 mg.")]
    [unchanged] = compress([QUESTION], [HITS], embedder(), 2, required=["Zeta Labs"])
    assert unchanged == compress([QUESTION], [HITS], embedder(), 2)[0]


def test_a_sentence_rag_shows_cites_and_copies_from_the_kept_sentences_only():
    searcher = FixedSearcher(HITS)
    searcher.embedder = embedder()
    reader = CharReader(max_length=10_000)
    answer = RagLM(reader, searcher, k=2, sentences=1, extractive=True).answer(QUESTION)
    assert reader.prompts == [format_rag_prompt([Excerpt("a", "Alpha is made by Zeta Labs.")], QUESTION)]
    assert answer.citations == ["a"]
    assert reader.gen_kwargs[0]["copy_from"] == ["Alpha is made by Zeta Labs."]
    with pytest.raises(UserError, match="sentences=0"):
        RagLM(reader, searcher, sentences=0)


def test_reader_examples_keep_the_sentence_holding_the_answer():
    searcher = FixedSearcher(HITS)
    searcher.embedder = embedder()
    rag = RagLM(CharReader(max_length=10_000), searcher, k=2, sentences=1)
    record = {"question": QUESTION, "answer": "10 mg", "doc_id": "a"}
    [example] = reader_examples(rag, [record], lambda doc_id: doc_id)
    assert example == {"prompt": format_rag_prompt([Excerpt("a", "Alpha weighs 10 mg.")], QUESTION),
                       "response": "10 mg"}
