"""Read folders and files of .txt, .md and .jsonl into documents.

A file that is not text (binary, not UTF-8, unreadable) is reported and skipped rather than
stopping the run: one stray binary in a folder of thousands should not cost the user the
whole corpus. A malformed line of a JSONL file is an error naming file:line, as it is for
every other JSONL input: it is a broken record, not a stray file. So is a path that does
not exist, since it is almost always a typo.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adaptlab.corpus.documents import Document
from adaptlab.errors import UserError

JSONL_SUFFIX = ".jsonl"
ACCEPTED_SUFFIXES = (".txt", ".md", JSONL_SUFFIX)


@dataclass(frozen=True)
class Skip:
    """A file left out, and why."""

    where: str
    reason: str


@dataclass
class ReadResult:
    documents: list[Document] = field(default_factory=list)
    files_read: int = 0
    files_ignored: int = 0
    skipped: list[Skip] = field(default_factory=list)


def read_inputs(inputs: Sequence[Path], *, text_field: str = "text", exclude: Path | None = None) -> ReadResult:
    """Read every input path (file or folder, recursively) in a fixed order.

    Ids are paths relative to each input's parent (`notes/a.txt`, `data.jsonl:17`),
    so they stay the same wherever the folder is moved. `exclude` keeps a folder out
    (the output folder, when it sits inside an input, so a rerun does not read its
    own output).
    """
    result = ReadResult()
    roots = _resolve_roots(inputs)
    excluded = exclude.resolve() if exclude is not None else None
    for root in roots:
        for path in _walk(root, excluded):
            rel = path.relative_to(root.parent).as_posix()
            if path.suffix.lower() not in ACCEPTED_SUFFIXES:
                result.files_ignored += 1
                continue
            _read_file(path, rel, text_field, result)
    return result


def _resolve_roots(inputs: Sequence[Path]) -> list[Path]:
    """Check inputs exist and that their names (the first part of every id) differ."""
    roots: dict[str, Path] = {}
    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise UserError(f"{given}: no such file or folder")
        resolved = path.resolve()
        other = roots.setdefault(resolved.name, resolved)
        if other != resolved:
            raise UserError(
                f"inputs {other} and {resolved} share the name {resolved.name!r}, so document ids would collide; "
                "pass their common parent folder instead"
            )
    return list(roots.values())


def _walk(root: Path, excluded: Path | None) -> Iterator[Path]:
    """Files under root in sorted order, leaving out hidden entries and `excluded`."""
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and here / d != excluded)
        for name in sorted(filenames):
            if not name.startswith("."):
                yield here / name


def _read_file(path: Path, rel: str, text_field: str, result: ReadResult) -> None:
    text = _decode(path, rel, result)
    if text is None:
        return
    result.files_read += 1
    if path.suffix.lower() == JSONL_SUFFIX:
        _read_jsonl_lines(text, rel, text_field, result)
    else:
        result.documents.append(Document(id=rel, text=text, source=rel))


def _decode(path: Path, rel: str, result: ReadResult) -> str | None:
    """The file's text, or None after recording why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.skipped.append(Skip(rel, f"unreadable ({exc.strerror or exc})"))
        return None
    if b"\x00" in data:
        result.skipped.append(Skip(rel, "binary (contains NUL bytes)"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.skipped.append(Skip(rel, f"not UTF-8 (invalid byte at offset {exc.start}); re-save it as UTF-8"))
        return None


def _read_jsonl_lines(text: str, rel: str, text_field: str, result: ReadResult) -> None:
    # split on "\n" only: JSON text may hold a raw U+2028, which splitlines() would cut
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{rel}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg}); each line is one JSON object") from None
        value = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a JSON object with a string field {text_field!r} "
                            "(pick the field with --text-field)")
        result.documents.append(Document(id=where, text=value, source=rel))
