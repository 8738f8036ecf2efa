"""Which solved examples go into each prompt: fixed, random under a seed, or most similar.

k=0, 1 and n give zero-, one- and few-shot prompts. No strategy ever shows a question
its own solved example (an example whose question is the query, compared after
stripping whitespace), so selecting from the evaluation pool cannot leak answers.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from adaptlab.errors import UserError
from adaptlab.prompting.examples import Example

if TYPE_CHECKING:
    from adaptlab.retrieval.embeddings import Embedder

Strategy = Literal["fixed", "random", "similar"]


class ExampleSelector(ABC):
    """Picks up to k examples from a pool for each query."""

    def __init__(self, pool: Sequence[Example], k: int):
        self.pool = list(pool)
        self.k = k

    def candidates(self, question: str) -> list[int]:
        """Pool indices that may be shown with `question` (all but its own example)."""
        query = question.strip()
        return [i for i, example in enumerate(self.pool) if example.question.strip() != query]

    @abstractmethod
    def select(self, questions: Sequence[str]) -> list[list[Example]]:
        """For each question, its examples in the order the prompt shows them."""


class FixedSelector(ExampleSelector):
    """The same examples for every query: the first k, or the given ids in their order."""

    def __init__(self, pool: Sequence[Example], k: int, ids: Sequence[str] | None = None):
        super().__init__(pool, k)
        self.order = list(range(len(self.pool)))
        if ids is not None:
            index = {example.id: i for i, example in enumerate(self.pool)}
            unknown = [i for i in ids if i not in index]
            if unknown:
                raise UserError(f"example id {unknown[0]!r} is not in the examples; "
                                f"ids there look like {', '.join(e.id for e in self.pool[:3])}")
            self.order, self.k = [index[i] for i in ids], len(ids)

    def select(self, questions: Sequence[str]) -> list[list[Example]]:
        out = []
        for question in questions:
            allowed = set(self.candidates(question))
            out.append([self.pool[i] for i in self.order if i in allowed][: self.k])
        return out


class RandomSelector(ExampleSelector):
    """k examples drawn per query from a generator seeded by (seed, query).

    Seeding by the query makes a prompt independent of request order and batching,
    so the same question gets the same examples in any run with the same seed.
    """

    def __init__(self, pool: Sequence[Example], k: int, seed: int = 0):
        super().__init__(pool, k)
        self.seed = seed

    def select(self, questions: Sequence[str]) -> list[list[Example]]:
        out = []
        for question in questions:
            allowed = self.candidates(question)
            rng = random.Random(f"{self.seed}\n{question}")
            out.append([self.pool[i] for i in rng.sample(allowed, min(self.k, len(allowed)))])
        return out


class SimilarSelector(ExampleSelector):
    """The k pool examples whose questions are closest to the query (cosine of embeddings).

    The pool is embedded on first use, once per process for a given embedder and pool (two
    prompt recipes over one pool share it). The most similar example comes last, nearest
    the question, as in Liu et al. 2021 ("What makes good in-context examples").
    """

    def __init__(self, pool: Sequence[Example], k: int, embedder: Embedder | None = None):
        super().__init__(pool, k)
        self._embedder = embedder
        self._vectors: np.ndarray | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from adaptlab.retrieval.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def select(self, questions: Sequence[str]) -> list[list[Example]]:
        if self._vectors is None:
            self._vectors = _pool_vectors(self.embedder, tuple(example.question for example in self.pool))
        scores = self.embedder.encode(list(questions)) @ self._vectors.T  # unit vectors: cosine
        out = []
        for question, row in zip(questions, scores):
            allowed = np.array(self.candidates(question), dtype=np.int64)
            best = allowed[np.argsort(-row[allowed], kind="stable")[: self.k]]
            out.append([self.pool[i] for i in best[::-1]])
        return out


@lru_cache(maxsize=4)
def _pool_vectors(embedder: Embedder, questions: tuple[str, ...]) -> np.ndarray:
    return embedder.encode(list(questions))


def make_selector(strategy: Strategy, pool: Sequence[Example], k: int, *, seed: int = 0,
                  ids: Sequence[str] | None = None, embedder: Embedder | None = None) -> ExampleSelector:
    """The selector a setting names; `ids` only for fixed, `seed` only for random."""
    if ids is not None and strategy != "fixed":
        raise UserError(f"example ids are for select=fixed, not select={strategy}")
    if strategy == "fixed":
        return FixedSelector(pool, k, ids)
    if strategy == "random":
        return RandomSelector(pool, k, seed)
    return SimilarSelector(pool, k, embedder)
