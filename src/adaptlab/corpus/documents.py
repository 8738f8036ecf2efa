"""The document record every corpus step reads and writes, and its JSONL files.

A prepared corpus is a folder with `train.jsonl`, `validation.jsonl` and
`summary.json`; each JSONL line is one document: {"id", "text", "source"}.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from adaptlab.errors import UserError
from adaptlab.fileio import publish_file

SPLITS = ("train", "validation")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str = ""


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    """Write records whole (fileio.publish_file); returns the count."""
    n = 0
    with publish_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_documents(path: Path, docs: Iterable[Document]) -> int:
    return write_jsonl(path, (asdict(d) for d in docs))


def iter_jsonl(path: Path, what: str) -> Iterator[tuple[str, dict]]:
    """("file:line", object) for each non-blank line of a JSONL file.

    A missing file, or a line that is not a JSON object, is a UserError naming it.
    """
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file (expected {what})")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise UserError(f"{where}: expected a JSON object ({what})")
            yield where, record


def read_documents(path: Path) -> Iterator[Document]:
    """Read a document JSONL file; a malformed line is an error naming file and line."""
    for where, record in iter_jsonl(path, "a prepared corpus split"):
        try:
            yield Document(id=str(record["id"]), text=record["text"], source=record.get("source", ""))
        except KeyError as exc:
            raise UserError(f"{where}: not a document record with 'id' and 'text' (missing {exc})") from None


def split_path(corpus_dir: Path, split: str) -> Path:
    """Where a split of a prepared corpus lives; an error if the folder is not one."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    path = Path(corpus_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"{corpus_dir}: not a prepared corpus (no {split}.jsonl); run `adaptlab corpus prepare` first")
    return path
