"""Retrieval quality on labelled queries: recall@k, MRR and nDCG@10 at document level.

A labelled query names its gold document(s); a retrieved chunk is a hit when it comes
from one. Chunks of one document are deduplicated first (the document ranks where its
best chunk does), so a document with many chunks cannot fill the top ten alone.
Relevance is binary: DCG = sum of 1/log2(rank + 1) over relevant ranks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adaptlab.corpus.documents import iter_jsonl
from adaptlab.errors import UserError
from adaptlab.retrieval.search import Hit, Searcher

RECALL_KS = (1, 5, 10)
NDCG_K = 10
DEPTH = 100  # chunks retrieved per query; MRR counts a first hit within them


@dataclass(frozen=True)
class LabeledQuery:
    question: str
    doc_ids: frozenset[str]


def unique_docs(doc_ids: Iterable[str]) -> list[str]:
    """Document ids in order of first appearance."""
    return list(dict.fromkeys(doc_ids))


def recall_at_k(ranked: Sequence[str], gold: frozenset[str], k: int) -> float:
    return len(gold.intersection(ranked[:k])) / len(gold)


def reciprocal_rank(ranked: Sequence[str], gold: frozenset[str]) -> float:
    return next((1.0 / rank for rank, doc in enumerate(ranked, 1) if doc in gold), 0.0)


def ndcg_at_k(ranked: Sequence[str], gold: frozenset[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1) if doc in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def score_rankings(rankings: Sequence[Sequence[str]], golds: Sequence[frozenset[str]]) -> dict[str, float]:
    """Mean recall@1/5/10, MRR and nDCG@10 over queries; each ranking is of documents, deduplicated."""
    if not rankings:
        raise UserError("no labelled queries to score")
    n = len(rankings)
    pairs = list(zip(rankings, golds))
    metrics = {f"recall@{k}": sum(recall_at_k(r, g, k) for r, g in pairs) / n for k in RECALL_KS}
    metrics["mrr"] = sum(reciprocal_rank(r, g) for r, g in pairs) / n
    metrics[f"ndcg@{NDCG_K}"] = sum(ndcg_at_k(r, g, NDCG_K) for r, g in pairs) / n
    return metrics


def doc_id_matcher(doc_ids: Iterable[str]) -> Callable[[str], str | None]:
    """label -> the indexed id it means: itself, or the one file whose name without suffix it is
    (labels say `compound-0003`, a folder read as a corpus says `docs/compound-0003.txt`); None if none."""
    ids = set(doc_ids)
    by_stem: dict[str, list[str]] = defaultdict(list)
    for doc_id in ids:
        if ":" not in doc_id:  # `file.jsonl:7` is a line, not a file
            by_stem[Path(doc_id).stem].append(doc_id)

    def match(label: str) -> str | None:
        if label in ids:
            return label
        named = by_stem.get(label, [])
        return named[0] if len(named) == 1 else None

    return match


def read_labeled_queries(path: Path, doc_ids: Iterable[str]) -> list[LabeledQuery]:
    """Queries from JSONL lines with `question` and `doc_id` (a string or a list), gold ids matched to the index."""
    match = doc_id_matcher(doc_ids)
    queries = []
    for where, record in iter_jsonl(path, "labelled queries with question and doc_id"):
        question, gold = record.get("question"), record.get("doc_id")
        labels = [gold] if isinstance(gold, str) else gold
        if not isinstance(question, str) or not isinstance(labels, list) or not labels:
            raise UserError(f"{where}: expected a string 'question' and a 'doc_id' (a string or a list of them)")
        resolved = {str(label): match(str(label)) for label in labels}
        if missing := [label for label, doc_id in resolved.items() if doc_id is None]:
            raise UserError(f"{where}: doc_id {missing[0]!r} matches no document in the index")
        queries.append(LabeledQuery(question, frozenset(d for d in resolved.values() if d is not None)))
    if not queries:
        raise UserError(f"{path}: no labelled queries")
    return queries


def document_ranking(hits: Sequence[Hit]) -> list[str]:
    return unique_docs(h.doc_id for h in hits)


def evaluate_retrieval(searcher: Searcher, queries: Sequence[LabeledQuery], mode: str,
                       depth: int = DEPTH) -> dict[str, float]:
    """Score one search mode on labelled queries (searched as one batch)."""
    results = searcher.search([q.question for q in queries], k=depth, mode=mode)
    return score_rankings([document_ranking(hits) for hits in results], [q.doc_ids for q in queries])
