"""Small training texts and tokenizers shared by the tokenization tests (seconds, not minutes)."""

from __future__ import annotations

import pytest

from adaptlab.tokenization.train import train_tokenizer

_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "A tokenizer learns merges from the words it sees most often.",
    "Domain adaptation moves a model toward the text of one field.",
    "Citizens of the city gathered before the council at noon.",
    "Whether it is nobler in the mind to suffer the slings and arrows.",
]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """About 5 KB of plain English in short documents with newlines."""
    return [f"{_LINES[i % 5]}\n{_LINES[(i * 3 + 1) % 5]} Line {i}." for i in range(50)]


@pytest.fixture(scope="session")
def tokenizers_by_kind(texts, tmp_path_factory) -> dict:
    """One tokenizer of each kind, trained and saved once for the session."""
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        kind: train_tokenizer(texts, kind, 300, root / kind, show_progress=False) for kind in ("bpe", "unigram", "char")
    }
