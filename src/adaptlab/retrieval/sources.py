"""What an index is built from: a prepared corpus (all its splits) or a folder of .txt/.md/.jsonl.

Both are read by the corpus room's own readers, so document ids are the ones every
other step uses (`docs/compound-0003.txt`, `notes.jsonl:17`).
"""

from __future__ import annotations

from pathlib import Path

from adaptlab.corpus.documents import SPLITS, read_documents
from adaptlab.corpus.read import ACCEPTED_SUFFIXES, ReadResult, read_inputs
from adaptlab.errors import UserError


def is_prepared_corpus(path: Path) -> bool:
    return (path / "summary.json").is_file() and (path / "train.jsonl").is_file()


def read_corpus(path: Path, *, text_field: str = "text") -> ReadResult:
    """Every document under `path`; none is a UserError."""
    path = Path(path)
    if is_prepared_corpus(path):
        files = [path / f"{split}.jsonl" for split in SPLITS if (path / f"{split}.jsonl").is_file()]
        result = ReadResult(documents=[d for f in files for d in read_documents(f)], files_read=len(files))
    else:
        result = read_inputs([path], text_field=text_field)
    if not result.documents:
        raise UserError(f"no readable documents in {path} (accepted: {', '.join(ACCEPTED_SUFFIXES)})")
    return result
