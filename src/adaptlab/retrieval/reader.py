"""A reader: teach a small base to answer a question from supplied passages, so RAG works
with the models trained here, and measure RAG's exact match.

The supervised examples are rendered exactly as `RagLM` asks at inference: the question's
retrieved passages, fitted to the reader's context, in `format_rag_prompt`. Retrieval can
miss; a reader that only ever saw its answer in the passages learns to copy, so when no
retrieved passage holds the answer the lowest-ranked one is swapped for the gold document's
chunk that does, and when fitting the context would cut it, it goes last after as many of
the best others as fit (a RAG that keeps only some sentences keeps the one holding the
answer). The QA pairs come from a training split that evaluation never asks.

A reader trained on one domain's facts answers them from memory without learning to
read: it sees the same few hundred passages over and over. Two remedies:
- Practice domains (`practice_examples`): fresh synthetic domains (other seeds: other
  names, other values), each indexed and asked all its questions in the same prompt
  format. Reading is a skill apart from any domain's facts, and new names on every
  example leave copying from the passage as the only way to the answer. This is what
  made readers work here (7.4M parameters: exact match 0.00 on one domain's data,
  0.43 with 16 practice domains, same steps).
- Counterfactual copies (`counterfactuals=N`): the answer is swapped, in the passages and
  the response alike, for another training answer of the same shape (digits, letters
  and punctuation in the same pattern). Cheaper, but the passages stay the same few.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from adaptlab.corpus.documents import Document
from adaptlab.corpus.synth import SynthDomain
from adaptlab.errors import UserError
from adaptlab.lm import LM, HFCausalLM
from adaptlab.retrieval.chunking import ChunkSettings
from adaptlab.retrieval.index import TextEmbedder, sync_index
from adaptlab.retrieval.metrics import doc_id_matcher
from adaptlab.retrieval.rag import Passage, RagLM, Reader, format_rag_prompt
from adaptlab.retrieval.search import Hit, open_searcher
from adaptlab.runs import load_model

ANSWER_TOKENS = 32  # room kept for the answer when fitting passages


def _with_gold(rag: RagLM, hits: list[Hit], record: dict[str, Any], gold_doc: str) -> list[Hit]:
    """The retrieved hits, the last one swapped for the gold chunk holding the answer when none holds it."""
    answer = record["answer"]
    if any(answer in h.text for h in hits):
        return hits
    gold = [Hit(c, 0.0) for c in rag.searcher.index.chunks.values() if c.doc_id == gold_doc and answer in c.text]
    if not gold:
        raise UserError(f"{record.get('id', record['question'])!r}: no chunk of {gold_doc} contains its answer "
                        f"{answer!r}")
    return [*hits[:-1], gold[0]]


def _fitted_with_answer(rag: RagLM, passages: Sequence[Passage], record: dict[str, Any]) -> str:
    """The RAG prompt over the passages that fit, the one holding the answer among them: when fitting
    would cut it, it goes last, after as many of the best others as still fit."""
    answer, question = record["answer"], record["question"]
    prompt, kept = rag.fit_prompt(passages, question, ANSWER_TOKENS)
    if any(answer in p.text for p in kept):
        return prompt
    holder = next((p for p in passages if answer in p.text), None)
    if holder is None:
        raise UserError(f"{record.get('id', question)!r}: no single sentence holds its answer {answer!r}; "
                        "train this reader on whole passages")
    others = [p for p in passages if p is not holder]
    for n in range(len(others), -1, -1):
        prompt, kept = rag.fit_prompt([*others[:n], holder], question, ANSWER_TOKENS)
        if len(kept) == n + 1:
            return prompt
    raise UserError(f"{record.get('id', question)!r}: the passage holding its answer does not fit the reader's context")


def answer_shape(answer: str) -> str:
    """Digits, letters and the rest in their pattern: '22.6 hours' and '8.1 days' share one."""
    return re.sub(r"[a-zA-Z]+", "a", re.sub(r"\d+", "9", answer))


def reader_examples(rag: RagLM, records: Sequence[dict[str, Any]], resolve_doc: Callable[[str], str | None], *,
                    counterfactuals: int = 0, seed: int = 0) -> list[dict[str, str]]:
    """Prompt/response pairs for supervised fine-tuning of a reader, each followed by
    `counterfactuals` copies with its answer swapped (see the module docstring)."""
    rng = random.Random(seed)
    by_shape: dict[str, list[str]] = {}
    for answer in sorted({r["answer"] for r in records}):
        by_shape.setdefault(answer_shape(answer), []).append(answer)
    questions = [r["question"] for r in records]
    with_gold = []
    for record, hits in zip(records, rag.searcher.search(questions, k=rag.k, mode=rag.mode)):
        gold_doc = resolve_doc(record["doc_id"])
        if gold_doc is None:
            raise UserError(f"{record.get('id', record['question'])!r}: doc_id {record['doc_id']!r} is not in the index")
        with_gold.append(_with_gold(rag, hits, record, gold_doc))
    examples = []
    for record, passages in zip(records, rag.narrowed(questions, with_gold, [r["answer"] for r in records])):
        prompt = _fitted_with_answer(rag, passages, record)
        answer = record["answer"]
        examples.append({"prompt": prompt, "response": answer})
        others = [a for a in by_shape[answer_shape(answer)] if a != answer and a not in prompt]
        for swap in rng.sample(others, min(counterfactuals, len(others))):
            examples.append({"prompt": prompt.replace(answer, swap), "response": swap})
    return examples


def domain_questions(domain: SynthDomain) -> list[dict[str, Any]]:
    """Every QA pair of a synthetic domain, both splits."""
    return [*domain.records["qa_train.jsonl"], *domain.records["qa_eval.jsonl"]]


def practice_examples(reader: Reader, domains: Iterable[SynthDomain], work: Path, embedder: TextEmbedder,
                      chunking: ChunkSettings | None = None, *, k: int = 5, mode: str = "hybrid",
                      sentences: int | None = None, fields: bool = False,
                      file_names: bool = False) -> list[dict[str, str]]:
    """Reader examples from fresh synthetic `domains` (`corpus.synth.practice_domains`), each one's
    questions asked over its own index (built in `work` with `chunking`), as `reader_examples`
    renders them; with `fields`, its format instructions' record fields too, as
    `retrieval.fill.field_examples` renders them. With `file_names`, every other domain names its
    documents as a folder read as a corpus does (`docs/compound-0001.txt`, as the study names a
    domain's), the rest by bare id: a small reader trained under one shape of `[doc_id]` label reads
    badly under another (the shipped reader trained on bare ids: RAG exact match 0.84 under them,
    0.63 under `docs/….txt` labels, the default study's)."""
    from adaptlab.retrieval.fill import field_examples

    examples = []
    for n, domain in enumerate(domains):
        named = file_names and n % 2 == 1
        path = work / f"practice-{domain.summary.seed}{'-files' if named else ''}"
        documents = [Document(f"docs/{doc_id}.txt" if named else doc_id, text)
                     for doc_id, text in domain.documents.items()]
        sync_index(path, documents, embedder, chunking)
        searcher = open_searcher(path, embedder)
        rag = RagLM(reader, searcher, k=k, mode=mode, sentences=sentences)
        resolve = doc_id_matcher(searcher.index.hashes)
        examples += reader_examples(rag, domain_questions(domain), resolve)
        if fields:
            records = domain.records
            examples += field_examples(rag, [*records["instructions_train.jsonl"], *records["instructions_eval.jsonl"]],
                                       resolve)
    return examples


def future_reader(base: Path) -> Reader:
    """The base as the reader it will become: a decoder is fine-tuned on conversations, so asked through its
    chat template, whose tokens count against the passages' budget; an encoder becomes an extractive reader
    (`span_reader`), given the prompt as it is."""
    from adaptlab.retrieval.span_reader import SpanReader

    loaded = load_model(base)
    if loaded.family == "encoder":
        return SpanReader(loaded.model, loaded.tokenizer)
    return HFCausalLM(loaded.model, loaded.tokenizer, chat=True)


class ClosedBookLM(LM):
    """The reader asked in its RAG prompt format with no passages: RAG's baseline, same model."""

    def __init__(self, reader: LM):
        self.reader = reader

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self.reader.loglikelihood([(format_rag_prompt([], q), c) for q, c in requests])

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.reader.loglikelihood_rolling(texts)

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        return self.reader.generate_until([(format_rag_prompt([], q), kw) for q, kw in requests])
