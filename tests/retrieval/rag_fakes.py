"""Stand-ins for RAG tests: a one-token-per-character reader that records its prompts, and a
searcher that returns fixed hits over a given set of chunks."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from adaptlab.lm import LM
from adaptlab.retrieval.chunking import Chunk
from adaptlab.retrieval.search import Hit


def hit(doc_id: str, text: str, score: float = 1.0) -> Hit:
    return Hit(Chunk(doc_id, 0, 0, len(text), text), score)


class CharReader(LM):
    """One token per character; records every prompt it is given."""

    def __init__(self, max_length: int):
        self.max_length = max_length
        self.prompts: list[str] = []
        self.gen_kwargs: list[dict[str, Any]] = []

    def render(self, context: str) -> str:
        return context

    def encode(self, text: str) -> list[int]:
        return [ord(ch) for ch in text]

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        self.prompts += [p for p, _ in requests]
        self.gen_kwargs += [kw for _, kw in requests]
        return [" 10 mg"] * len(requests)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        self.prompts += [p for p, _ in requests]
        return [(-float(len(c)), True) for _, c in requests]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [-float(len(t)) for t in texts]


class FixedSearcher:
    """Every query gets `hits`; `index.chunks` holds them and any `extra` chunks."""

    def __init__(self, hits: list[Hit], extra: Sequence[Chunk] = ()):
        self.hits = hits
        self.queries: list[str] = []
        self.index = SimpleNamespace(chunks=dict(enumerate([*(h.chunk for h in hits), *extra])))

    def search(self, queries: Sequence[str], k: int = 10, mode: str = "hybrid") -> list[list[Hit]]:
        self.queries += queries
        return [self.hits[:k] for _ in queries]
