"""Search an index: BM25 (bm25s), dense (faiss) and hybrid by reciprocal-rank fusion.

RRF (Cormack et al., 2009) adds 1 / (k + rank) over the rankings an item is in; it needs
no score calibration between BM25 and cosine, and k=60 is the value of the paper.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import torch

from adaptlab.errors import UserError
from adaptlab.retrieval.chunking import Chunk
from adaptlab.retrieval.embeddings import DEFAULT_MODEL, Embedder, default_embedder
from adaptlab.retrieval.index import ChunkIndex, TextEmbedder, open_index
from adaptlab.retrieval.lexical import bm25_search

MODES = ("bm25", "dense", "hybrid")
RRF_K = 60
FUSION_DEPTH = 50  # candidates taken from each ranking before fusing
_FEW_QUERIES = 20  # below this many queries, threads split one small job and mostly wait on each other


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its score in the mode that found it (BM25, cosine or RRF)."""

    chunk: Chunk
    score: float

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Items of all rankings by the sum of 1 / (k + rank), rank counted from 1; ties keep first-seen order."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] += 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch and faiss on `n` threads, then restore both."""
    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


class Searcher:
    """Queries -> ranked hits over one loaded index."""

    def __init__(self, index: ChunkIndex, embedder: TextEmbedder, *, rrf_k: int = RRF_K,
                 fusion_depth: int = FUSION_DEPTH):
        self.index = index
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.fusion_depth = fusion_depth

    def search(self, queries: Sequence[str], k: int = 10, mode: str = "hybrid") -> list[list[Hit]]:
        """Up to k hits per query, best first."""
        if mode not in MODES:
            raise UserError(f"unknown search mode {mode!r}; accepted: {', '.join(MODES)}")
        if k < 1:
            raise UserError(f"k={k}: must be at least 1")
        if mode == "bm25":
            return self._hits(self.bm25(queries, k))
        if mode == "dense":
            return self._hits(self.dense(queries, k))
        depth = max(k, self.fusion_depth)
        pairs = zip(self.bm25(queries, depth), self.dense(queries, depth))
        fused = [reciprocal_rank_fusion([[c for c, _ in lex], [c for c, _ in den]], self.rrf_k)[:k]
                 for lex, den in pairs]
        return self._hits(fused)

    def bm25(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """(chunk id, BM25 score) per query."""
        ids = self.index.bm25_ids
        return [[(int(ids[row]), s) for row, s in ranked] for ranked in bm25_search(self.index.bm25, queries, k)]

    def dense(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """(chunk id, cosine) per query. Fewer than 20 queries run on one thread: on two busy cores a
        single query took 480 ms to embed on two threads and 33 ms on one (faiss's scan: 53 ms and 15 ms)."""
        threads = 1 if len(queries) < _FEW_QUERIES else torch.get_num_threads()
        with _threads(threads):
            vectors = self.embedder.encode(list(queries))
            scores, ids = self.index.vectors.search(vectors, min(k, self.index.vectors.ntotal))
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def _hits(self, ranked: list[list[tuple[int, float]]]) -> list[list[Hit]]:
        return [[Hit(self.index.chunks[cid], score) for cid, score in row] for row in ranked]


def embedder_named(name: str) -> Embedder:
    """The shared default embedder, or a local sentence-transformers folder."""
    return default_embedder() if name == DEFAULT_MODEL else Embedder(name)


def open_searcher(path: str | Path, embedder: TextEmbedder | None = None, **options: int) -> Searcher:
    """Load an index and search it with `embedder` (default: the model the index was built with)."""
    index = open_index(path, embedder)
    return Searcher(index, embedder or embedder_named(index.info.embedding_model), **options)
