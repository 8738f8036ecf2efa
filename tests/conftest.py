"""Fixtures shared across rooms: a small prepared corpus from the synthetic domain, a
tokenizer trained on it, token shards, and a tiny trained decoder run."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import tiny_config

@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    from adaptlab.corpus.prepare import prepare_corpus
    from adaptlab.corpus.synth import synthesize

    root = tmp_path_factory.mktemp("domain")
    synthesize(root / "synth", seed=0, n_compounds=16)
    prepare_corpus([root / "synth" / "docs"], root / "corpus", validation_fraction=0.2)
    return root / "corpus"


@pytest.fixture(scope="session")
def tokenizer_dir(corpus_dir) -> Path:
    from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

    out = corpus_dir.parent / "tokenizer"
    train_tokenizer(iter_corpus_texts(corpus_dir), "bpe", 400, out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def shards_dir(corpus_dir, tokenizer_dir) -> Path:
    from adaptlab.tokenization.shards import encode_corpus
    from adaptlab.tokenization.train import load_tokenizer

    out = corpus_dir.parent / "shards"
    encode_corpus(corpus_dir, load_tokenizer(tokenizer_dir), out, progress=False)
    return out


@pytest.fixture(scope="session")
def decoder_run(shards_dir, tmp_path_factory) -> Path:
    """A tiny decoder trained for a few steps; its run folder."""
    from adaptlab.train.loop import pretrain

    out = tmp_path_factory.mktemp("runs") / "decoder"
    pretrain(tiny_config(shards_dir, out, steps=40), progress=False)
    return out
