import pytest

from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.retrieval.rag import RagAnswer, RagLM, format_rag_prompt
from adaptlab.runs import load_model
from adaptlab.retrieval.search import open_searcher

from retrieval.rag_fakes import CharReader, FixedSearcher, hit

HITS = [hit("a", "Alpha is 10 mg."), hit("b", "Beta is 20 mg."), hit("a", "Alpha is blue."), hit("c", "Gamma.")]


def test_the_prompt_format():
    assert format_rag_prompt(HITS[:2], " What is Alpha? ") == (
        "[a] Alpha is 10 mg.\n\n[b] Beta is 20 mg.\n\nQuestion: What is Alpha?\nAnswer:")
    assert format_rag_prompt([], "What is Alpha?") == "Question: What is Alpha?\nAnswer:"


def test_passages_fit_the_context_lowest_ranked_dropped_first_and_are_cited():
    question, gen = "What is Alpha?", {"until": ["\n"], "max_gen_toks": 5}
    three = len(format_rag_prompt(HITS[:3], question))
    reader = CharReader(max_length=three + 5 + 1)  # prompt + tokens to generate + start token
    rag = RagLM(reader, FixedSearcher(HITS), k=4)
    answer = rag.answer(question, gen)
    assert answer == RagAnswer(" 10 mg", ["a", "b"], HITS[:3])  # "c" dropped; "a" cited once
    assert reader.prompts == [format_rag_prompt(HITS[:3], question)]
    assert rag.generate_until([(question, {**gen, "max_gen_toks": 6})]) == [" 10 mg"]
    assert reader.prompts[-1] == format_rag_prompt(HITS[:2], question)  # one more token to generate: one passage less
    tiny = RagLM(CharReader(max_length=20), FixedSearcher(HITS), k=4)
    assert tiny.answer(question, gen).citations == []  # nothing fits: the question alone


class ChatCharReader(CharReader):
    """A chat model: the prompt it is given is wrapped in a template, which takes room too."""

    def render(self, context: str) -> str:
        return f"<|user|>\n{context}\n<|assistant|>\n"


def test_a_chat_readers_template_counts_against_the_budget():
    question, gen = "What is Alpha?", {"until": ["\n"], "max_gen_toks": 5}
    three = len(format_rag_prompt(HITS[:3], question))
    assert CharReader(three + 5 + 1).render("x") == "x"
    used = RagLM(ChatCharReader(max_length=three + 5 + 1), FixedSearcher(HITS), k=4).answer(question, gen)
    assert used.passages == HITS[:1]  # the template's 24 characters crowd out two 20-character passages


def test_an_extractive_rag_asks_for_a_span_of_the_passages_it_fitted():
    question, gen = "What is Alpha?", {"until": ["\n"], "max_gen_toks": 5}
    reader = CharReader(max_length=len(format_rag_prompt(HITS[:2], question)) + 5 + 1)
    RagLM(reader, FixedSearcher(HITS), k=4, extractive=True).answer(question, gen)
    assert reader.gen_kwargs == [{**gen, "copy_from": ["Alpha is 10 mg.", "Beta is 20 mg."]}]
    RagLM(reader, FixedSearcher(HITS), k=4).answer(question, gen)
    assert reader.gen_kwargs[-1] == gen


def test_loglikelihood_conditions_on_the_retrieved_prompt():
    reader = CharReader(max_length=10_000)
    searcher = FixedSearcher(HITS)
    rag = RagLM(reader, searcher, k=2)
    assert rag.loglikelihood([("What is Alpha?", " 10 mg")]) == [(-6.0, True)]
    assert searcher.queries == ["What is Alpha?"]
    assert reader.prompts == [format_rag_prompt(HITS[:2], "What is Alpha?")]
    assert rag.loglikelihood_rolling(["abc"]) == [-3.0]


class RecordingReader(HFCausalLM):
    """The real decoder, remembering every context it is asked to continue or score."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contexts: list[str] = []

    def generate_until(self, requests):
        self.contexts += [context for context, _ in requests]
        return super().generate_until(requests)

    def loglikelihood(self, requests):
        self.contexts += [context for context, _ in requests]
        return super().loglikelihood(requests)


def test_rag_over_a_real_index_and_a_real_decoder(real_index, small_domain, decoder_run):
    """The reader is asked over the passages the index ranks best, the one that names the sponsor among
    them; what RAG answers and scores is what the reader gives for that prompt, not for the bare question."""
    searcher = open_searcher(real_index)
    question = "Who holds the development rights to Blolelquor?"
    cited = RagLM(CharReader(max_length=4096), searcher, k=3).answer(question)
    assert "docs/compound-0000.txt" in cited.citations and len(cited.passages) == 3
    loaded = load_model(decoder_run)
    reader = RecordingReader(loaded.model, loaded.tokenizer, max_length=1024)  # room for all three passages
    plain = HFCausalLM(loaded.model, loaded.tokenizer, max_length=1024)
    rag = RagLM(reader, searcher, k=3)
    hits = searcher.search([question], k=3)[0]
    prompt = format_rag_prompt(hits, question)
    stated = next(h for h in hits if h.doc_id == "docs/compound-0000.txt")
    assert "Plexpriris Laboratories" in stated.text and f"[{stated.doc_id}] {stated.text}" in prompt

    gen = {"until": ["\n"], "max_gen_toks": 4}
    answer = rag.answer(question, gen)
    assert reader.contexts == [prompt] and answer.passages == hits
    assert answer.citations == list(dict.fromkeys(h.doc_id for h in hits))
    assert answer.text == plain.generate_until([(prompt, gen)])[0]

    (logprob, greedy), = rag.loglikelihood([(question, " Plexpriris")])
    assert reader.contexts[-1] == prompt
    assert (logprob, greedy) == plain.loglikelihood([(prompt, " Plexpriris")])[0]
    assert logprob != plain.loglikelihood([(question, " Plexpriris")])[0][0]  # the passages changed the score

    extractive = RagLM(reader, searcher, k=3, extractive=True).answer(question, {"until": ["\n"], "max_gen_toks": 8})
    squash = "".join
    assert squash(extractive.text.split()) in squash("\0".join(p.text for p in extractive.passages).split())
    with pytest.raises(UserError, match="unknown search mode"):
        RagLM(rag.reader, searcher, mode="sparse")
