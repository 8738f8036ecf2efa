"""Contextual compression: keep only the retrieved sentences that bear on the question.

A retrieved chunk says many things; the reader must find the one that answers. A small
reader often copies a span from the wrong sentence (a sentence's first word, the
question's own drug name). Keeping the `keep` sentences closest to the question, by the
retriever's own embedder, leaves it a few candidates and the prompt fewer tokens: the
idea of LangChain's EmbeddingsFilter and LlamaIndex's sentence optimizer. Sentences stay
under their chunk's document id, chunks in retrieval order and sentences in their order
there, so citations and the prompt format are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adaptlab.retrieval.chunking import sentences
from adaptlab.retrieval.index import TextEmbedder
from adaptlab.retrieval.search import Hit


@dataclass(frozen=True)
class Excerpt:
    """The kept sentences of one retrieved chunk, joined by a space."""

    doc_id: str
    text: str


def compress(questions: Sequence[str], passages: Sequence[Sequence[Hit | Excerpt]], embedder: TextEmbedder,
             keep: int, *, required: Sequence[str] | None = None) -> list[list[Excerpt]]:
    """Each question's passages cut to their `keep` sentences most similar to it (cosine of
    embeddings, every distinct text embedded once per call). With `required` (one string per
    question, as for training a reader), a question whose kept sentences lack its string has
    its least similar kept sentence swapped for the most similar one holding it."""
    units = [[(i, sentence) for i, hit in enumerate(hits) for sentence in sentences(hit.text)] for hits in passages]
    texts = sorted({*questions, *(s for question_units in units for _, s in question_units)})
    row = {text: i for i, text in enumerate(texts)}
    vectors = embedder.encode(texts)
    out = []
    for n, (question, hits, question_units) in enumerate(zip(questions, passages, units)):
        similarity = vectors[[row[s] for _, s in question_units]] @ vectors[row[question]] if question_units else []
        order = [int(j) for j in np.argsort(-np.asarray(similarity), kind="stable")]
        chosen = order[:keep]
        must = required[n] if required is not None else None
        if must and chosen and not any(must in question_units[j][1] for j in chosen):
            holder = next((j for j in order if must in question_units[j][1]), None)
            if holder is not None:
                chosen[-1] = holder
        kept: dict[int, list[str]] = {}
        for j in sorted(chosen):
            hit, sentence = question_units[j]
            kept.setdefault(hit, []).append(sentence)
        out.append([Excerpt(hits[i].doc_id, " ".join(kept[i])) for i in sorted(kept)])
    return out
