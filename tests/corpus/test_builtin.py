"""The general English corpus built from the Python installation."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.corpus.builtin import general_english_documents, write_general_corpus
from adaptlab.corpus.documents import Document
from adaptlab.corpus.prepare import prepare_documents


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return general_english_documents()


def test_builtin_corpus_is_non_trivial_english_from_help_and_docstrings(docs: list[Document]) -> None:
    by_id = {doc.id: doc for doc in docs}
    assert len(by_id) == len(docs) > 300
    assert sum(len(doc.text.encode()) for doc in docs) > 1_500_000
    assert "iterate over the elements" in by_id["pydoc-topic:for"].text
    assert "JSON" in by_id["stdlib:json"].text and "stdlib:json.decoder" in by_id
    assert not any(".test" in doc.id or "idlelib" in doc.id or "encodings" in doc.id for doc in docs)


def test_builtin_corpus_is_deterministic_and_prepares_into_both_splits(tmp_path: Path, docs: list[Document]) -> None:
    summary = write_general_corpus(tmp_path / "a", seed=3)  # builds the corpus afresh
    prepare_documents(docs, tmp_path / "b", seed=3)

    for name in ("train.jsonl", "validation.jsonl", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes().replace(
            str(tmp_path / "b").encode(), str(tmp_path / "a").encode()
        )
    assert summary.documents["train"] > 300 and summary.documents["validation"] > 0
    assert summary.bytes["train"] > 1_500_000
