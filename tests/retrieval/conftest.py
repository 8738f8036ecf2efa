"""A tiny synthetic domain (12 compounds: 18 documents) and one real-embedder index of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.corpus.documents import Document


@pytest.fixture(scope="session")
def small_domain(tmp_path_factory) -> Path:
    from adaptlab.corpus.synth import synthesize

    out = tmp_path_factory.mktemp("rag") / "synth"
    synthesize(out, seed=0, n_compounds=12)
    return out


@pytest.fixture(scope="session")
def small_docs(small_domain) -> list[Document]:
    from adaptlab.retrieval.sources import read_corpus

    return read_corpus(small_domain / "docs").documents


@pytest.fixture(scope="session")
def real_index(small_domain, small_docs, tmp_path_factory) -> Path:
    """The small domain indexed with all-MiniLM-L6-v2."""
    from adaptlab.retrieval.embeddings import default_embedder
    from adaptlab.retrieval.index import sync_index

    out = tmp_path_factory.mktemp("rag") / "index"
    sync_index(out, small_docs, default_embedder())
    return out
