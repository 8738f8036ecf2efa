"""Encode a prepared corpus into memory-mapped token shards for training.

Each split becomes `{split}_{k:03d}.bin` files of raw little-endian ids (every
document followed by EOS), plus `meta.json`; training reads them with np.memmap,
as nanoGPT and litgpt do, so a corpus larger than RAM costs no memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import PreTrainedTokenizerFast

from adaptlab.corpus.documents import SPLITS, read_documents, split_path
from adaptlab.errors import UserError
from adaptlab.fileio import check_replaceable, publish_dir

META_FILE = "meta.json"


def token_dtype(tokenizer: PreTrainedTokenizerFast) -> np.dtype:
    """uint16 when every id fits (half the disk and page cache), else uint32."""
    return np.dtype("<u2") if len(tokenizer) <= 65535 else np.dtype("<u4")


def encode_text_to_array(text: str, tokenizer: PreTrainedTokenizerFast) -> np.ndarray:
    """The ids of one text, no specials added, in the shard dtype (for in-memory use)."""
    (encoding,) = tokenizer.backend_tokenizer.encode_batch_fast([text], add_special_tokens=False)
    return np.asarray(encoding.ids, dtype=token_dtype(tokenizer))


def encode_corpus(
    corpus_dir: Path,
    tokenizer: PreTrainedTokenizerFast,
    out_dir: Path,
    *,
    shard_tokens: int = 50_000_000,
    batch_size: int = 1000,
    progress: bool = True,
) -> dict:
    """Encode both splits of a prepared corpus into shards under `out_dir`; returns the meta.

    Documents stream through in batches, so memory stays at one batch. The shard set
    is built in a temporary folder and renamed into place, so a crash never leaves a
    half-written set; an existing shard folder (one with meta.json) is replaced.
    """
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    if shard_tokens < 1 or batch_size < 1:
        raise UserError(f"shard_tokens {shard_tokens} and batch_size {batch_size}: accepted: integers >= 1")
    if tokenizer.eos_token_id is None:
        raise UserError(f"tokenizer {tokenizer.name_or_path!r} has no EOS token; accepted: one with eos_token set")
    paths = {split: split_path(corpus_dir, split) for split in SPLITS}
    check_replaceable(out_dir, META_FILE, "token shards")
    dtype = token_dtype(tokenizer)
    meta = {
        "dtype": dtype.name,
        "vocab_size": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
        "tokenizer": _tokenizer_location(tokenizer),
        "splits": {},
    }
    with publish_dir(out_dir) as tmp:
        with _progress_bar(progress) as bar:
            for split, path in paths.items():
                task = bar.add_task(split, total=_count_lines(path) if progress else None, tokens=0)
                writer = _ShardWriter(tmp, split, dtype, shard_tokens)
                n_docs = n_bytes = 0
                for texts in _batches((doc.text for doc in read_documents(path)), batch_size):
                    for ids in _encode_batch(texts, tokenizer, dtype):
                        writer.write(ids)
                    n_docs += len(texts)
                    n_bytes += sum(len(t.encode("utf-8")) for t in texts)
                    bar.update(task, advance=len(texts), tokens=writer.tokens)
                writer.close()
                meta["splits"][split] = {
                    "shards": writer.names,
                    "tokens": writer.tokens,
                    "bytes": n_bytes,
                    "documents": n_docs,
                }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _tokenizer_location(tokenizer: PreTrainedTokenizerFast) -> str | None:
    """An absolute path where the tokenizer was saved, so training can find it from any folder."""
    name = tokenizer.name_or_path
    if not name:
        return None
    return str(Path(name).resolve()) if Path(name).is_dir() else name


def read_meta(shard_dir: Path) -> dict:
    """The meta.json of a shard folder; an error naming the folder if it is not one."""
    path = Path(shard_dir) / META_FILE
    if not path.is_file():
        raise UserError(f"{shard_dir}: not a token shard folder (no {META_FILE}); run `adaptlab tokenize` first")
    return json.loads(path.read_text(encoding="utf-8"))


def load_split(shard_dir: Path, split: str) -> list[np.memmap]:
    """Read-only memmaps of a split's shards, in order (an empty split has none)."""
    meta = read_meta(shard_dir)
    if split not in meta["splits"]:
        raise UserError(f"{shard_dir}: no split {split!r}; accepted: {', '.join(meta['splits'])}")
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    return [np.memmap(Path(shard_dir) / name, dtype=dtype, mode="r") for name in meta["splits"][split]["shards"]]


class _ShardWriter:
    """Appends id arrays to numbered shard files, starting a new file every `shard_tokens` ids."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.names: list[str] = []
        self.tokens = 0
        self._file = None
        self._room = 0

    def write(self, ids: np.ndarray) -> None:
        while len(ids):
            if self._room == 0:
                self._open_next()
            head, ids = ids[: self._room], ids[self._room :]
            self._file.write(head.tobytes())
            self._room -= len(head)
            self.tokens += len(head)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open_next(self) -> None:
        self.close()
        name = f"{self.split}_{len(self.names):03d}.bin"
        self._file = open(self.folder / name, "wb")
        self.names.append(name)
        self._room = self.shard_tokens


def _encode_batch(texts: list[str], tokenizer: PreTrainedTokenizerFast, dtype: np.dtype) -> Iterator[np.ndarray]:
    """Each text's ids then EOS, encoded in parallel by the Rust backend."""
    eos = tokenizer.eos_token_id
    for encoding in tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False):
        ids = np.empty(len(encoding.ids) + 1, dtype=dtype)
        ids[:-1] = encoding.ids
        ids[-1] = eos
        yield ids


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _count_lines(path: Path) -> int:
    """Documents in a JSONL file (non-blank lines), for the progress bar's total."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs · {task.fields[tokens]:,} tokens"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
