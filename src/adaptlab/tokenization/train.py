"""Train byte-level BPE, Unigram or character tokenizers with Hugging Face `tokenizers`.

The result is a `PreTrainedTokenizerFast` whose saved folder `AutoTokenizer`
loads with no adaptlab code, so models trained here move to any HF tool.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from adaptlab.corpus.documents import read_documents, split_path
from adaptlab.errors import UserError
from adaptlab.tokenization.specials import (
    DEFAULT_SPECIAL_TOKENS,
    ROLE_TOKENS,
    check_special_tokens,
    extra_special_tokens,
)

KINDS = ("bpe", "unigram", "char")
BYTE_ALPHABET = pre_tokenizers.ByteLevel.alphabet()


def train_tokenizer(
    texts: Iterable[str],
    kind: str,
    vocab_size: int,
    out_dir: Path | None = None,
    *,
    min_frequency: int = 2,
    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
    show_progress: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer of `kind` on `texts`; save it to `out_dir` when given.

    - "bpe": byte-level BPE (GPT-2 style); every text round-trips exactly.
    - "unigram": SentencePiece-style Unigram over Metaspace; `min_frequency` does not apply.
    - "char": one token per distinct character seen (nanoGPT's char level); `vocab_size`
      is only an upper bound (the rarest characters become <unk> past it) and
      `min_frequency` is ignored, since a character seen once must still round-trip.

    Specials take the lowest ids in the order given; no BOS/EOS is added on encode.
    """
    if kind not in KINDS:
        raise UserError(f"unknown tokenizer kind {kind!r}; accepted: {', '.join(KINDS)}")
    specials = check_special_tokens(special_tokens)
    _check_vocab_size(kind, vocab_size, len(specials))
    if min_frequency < 0:
        raise UserError(f"min_frequency {min_frequency}: give 0 or more (how often a pair must occur to be merged)")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UserError(f"{out_dir}: is a file; give a folder for the tokenizer (new or existing)")
    texts = _non_empty(texts)
    if kind == "char":
        backend = _char_tokenizer(texts, vocab_size, specials)
    else:
        backend = _train_subword(texts, kind, vocab_size, min_frequency, specials, show_progress)
    tokenizer = _wrap(backend, specials)
    if out_dir is not None:
        tokenizer.save_pretrained(str(out_dir))
        tokenizer.name_or_path = str(out_dir)
    return tokenizer


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """Load a saved tokenizer folder (ours or any HF one) through `AutoTokenizer`."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such tokenizer folder (expected a folder with tokenizer.json)")
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise UserError(f"{path}: not a tokenizer folder (no tokenizer.json or tokenizer_config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot load the tokenizer ({exc})") from None
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise UserError(f"{path}: {type(tokenizer).__name__} is not backed by `tokenizers` (needs tokenizer.json)")
    return tokenizer


def iter_corpus_texts(corpus_dir: Path, split: str = "train") -> Iterator[str]:
    """Stream the document texts of one split of a prepared corpus."""
    for doc in read_documents(split_path(corpus_dir, split)):
        yield doc.text


def _check_vocab_size(kind: str, vocab_size: int, n_specials: int) -> None:
    minimum = n_specials + (len(BYTE_ALPHABET) if kind == "bpe" else 1)
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        what = f"{n_specials} specials + " + ("256 bytes" if kind == "bpe" else "1")
        raise UserError(f"vocab_size {vocab_size!r} is too small for {kind}; accepted: integers >= {minimum} ({what})")


def _non_empty(texts: Iterable[str]) -> Iterator[str]:
    """The non-empty texts, still lazy; an error if there are none."""
    it = (t for t in texts if t)
    first = next(it, None)
    if first is None:
        raise UserError("no text to train a tokenizer on; accepted: at least one non-empty text")
    return itertools.chain([first], it)


def _train_subword(
    texts: Iterator[str], kind: str, vocab_size: int, min_frequency: int, specials: list[str], show_progress: bool
) -> Tokenizer:
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=BYTE_ALPHABET,
            show_progress=show_progress,
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            unk_token=ROLE_TOKENS["unk_token"],
            show_progress=show_progress,
        )
    try:
        tokenizer.train_from_iterator(texts, trainer)
    except Exception as exc:  # the Rust trainer raises a bare Exception, e.g. for a vocab below the alphabet
        if "not large enough" in str(exc):
            raise UserError(f"vocab_size {vocab_size} is too small for {kind}: {exc}") from None
        raise
    return tokenizer


def _char_tokenizer(texts: Iterator[str], vocab_size: int, specials: list[str]) -> Tokenizer:
    """One id per character, specials first, then characters in code-point order.

    A BPE model with no merges and no pre-tokenizer splits text into characters
    in Rust (~10x faster than a per-character pre-tokenizer); Fuse joins them back.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    chars = [ch for ch in counts if ch not in specials]
    kept = sorted(chars, key=lambda ch: (-counts[ch], ch))[: vocab_size - len(specials)]
    vocab = {token: i for i, token in enumerate([*specials, *sorted(kept)])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=ROLE_TOKENS["unk_token"]))
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(specials)
    return tokenizer


def _wrap(backend: Tokenizer, specials: list[str]) -> PreTrainedTokenizerFast:
    """The transformers view: named roles, sentinels as extra specials, no cleanup on decode."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **ROLE_TOKENS,
        extra_special_tokens=extra_special_tokens(specials),
        clean_up_tokenization_spaces=False,
    )
