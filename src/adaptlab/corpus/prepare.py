"""Turn raw documents into a prepared corpus: clean, filter, dedup, split, write.

The output folder holds `train.jsonl`, `validation.jsonl` and `summary.json`. The
result depends only on the set of input documents and the settings, never on their
order, so a rerun over the same folder gives the same files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adaptlab.corpus.clean import clean_text
from adaptlab.corpus.dedup import drop_exact_duplicates, drop_near_duplicates
from adaptlab.corpus.documents import SPLITS, Document, write_documents
from adaptlab.corpus.read import ACCEPTED_SUFFIXES, Skip, read_inputs
from adaptlab.errors import UserError
from adaptlab.fileio import check_output, write_file

DROP_REASONS = ("empty", "boilerplate_only", "too_short", "exact_duplicate", "near_duplicate")
_MAX_SKIPS_SHOWN = 10
_ACCEPTED = ", ".join(ACCEPTED_SUFFIXES)


@dataclass(frozen=True)
class PrepareSettings:
    """The knobs of a run, checked on creation so a bad value fails before any work."""

    min_chars: int = 200
    validation_fraction: float = 0.05
    near_dup_threshold: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.min_chars >= 0:
            raise UserError(f"min_chars={self.min_chars}: must be an integer >= 0")
        if not 0 <= self.validation_fraction < 1:
            raise UserError(f"validation_fraction={self.validation_fraction}: must be in [0, 1)")
        if not 0 < self.near_dup_threshold <= 1:
            raise UserError(f"near_dup_threshold={self.near_dup_threshold}: must be in (0, 1]")


@dataclass
class PrepareSummary:
    """What a run read, skipped, dropped and wrote; saved as summary.json."""

    settings: dict[str, object] = field(default_factory=dict)
    files_read: int = 0
    files_ignored: int = 0
    skipped: list[Skip] = field(default_factory=list)
    documents_in: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    documents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    out_dir: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable lines for a terminal."""
        out = []
        if self.files_read or self.files_ignored or self.skipped:
            out.append(f"files: {self.files_read} read, {self.files_ignored} ignored (not {_ACCEPTED})")
        if self.skipped:
            out.append(f"skipped {len(self.skipped)}:")
            out += [f"  {skip.where}: {skip.reason}" for skip in self.skipped[:_MAX_SKIPS_SHOWN]]
            if len(self.skipped) > _MAX_SKIPS_SHOWN:
                out.append(f"  ... and {len(self.skipped) - _MAX_SKIPS_SHOWN} more (see summary.json)")
        dropped = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items() if n) or "none"
        out.append(f"documents: {self.documents_in} in, dropped {sum(self.dropped.values())} ({dropped})")
        for split in SPLITS:
            out.append(f"  {split}: {self.documents[split]} documents, {_human_bytes(self.bytes[split])}")
        if self.out_dir:
            out.append(f"wrote {self.out_dir}")
        return out


def prepare_documents(
    docs: Iterable[Document],
    out_dir: Path,
    *,
    min_chars: int = 200,
    validation_fraction: float = 0.05,
    near_dup_threshold: float = 0.8,
    seed: int = 0,
) -> PrepareSummary:
    """Clean, filter, dedup and split documents, then write the corpus to out_dir."""
    settings = PrepareSettings(min_chars, validation_fraction, near_dup_threshold, seed)
    check_output(out_dir, folder=True, what="the prepared corpus")
    return _prepare(list(docs), Path(out_dir), settings, PrepareSummary(settings=asdict(settings)))


def prepare_corpus(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    text_field: str = "text",
    min_chars: int = 200,
    validation_fraction: float = 0.05,
    near_dup_threshold: float = 0.8,
    seed: int = 0,
) -> PrepareSummary:
    """Read files and folders of .txt/.md/.jsonl, then prepare them as `prepare_documents` does."""
    settings = PrepareSettings(min_chars, validation_fraction, near_dup_threshold, seed)
    check_output(out_dir, folder=True, what="the prepared corpus")
    if not inputs:
        raise UserError(f"no input paths given; pass files or folders of {_ACCEPTED}")
    read = read_inputs(inputs, text_field=text_field, exclude=Path(out_dir))
    summary = PrepareSummary(
        settings={**asdict(settings), "text_field": text_field},
        files_read=read.files_read,
        files_ignored=read.files_ignored,
        skipped=read.skipped,
    )
    if not read.documents:
        where = ", ".join(map(str, inputs))
        raise UserError(f"no readable documents in {where} (accepted: {_ACCEPTED}); " + _file_counts(summary))
    return _prepare(read.documents, Path(out_dir), settings, summary)


def split_documents(
    docs: Sequence[Document], validation_fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """Train and validation documents, chosen by a seeded hash of each text.

    When the fraction is above zero and there are two or more documents, each split
    gets at least one, so validation is never silently empty.
    """
    keys = [_split_key(doc.text, seed) for doc in docs]
    validation = {i for i, key in enumerate(keys) if key < validation_fraction}
    if validation_fraction > 0 and len(docs) >= 2:
        if not validation:
            validation = {min(range(len(docs)), key=keys.__getitem__)}
        elif len(validation) == len(docs):
            validation.remove(max(range(len(docs)), key=keys.__getitem__))
    train = [doc for i, doc in enumerate(docs) if i not in validation]
    return train, [doc for i, doc in enumerate(docs) if i in validation]


def _split_key(text: str, seed: int) -> float:
    """A number in [0, 1) fixed by the text and the seed alone."""
    digest = hashlib.sha256(f"{seed}\0{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _drop_reason(raw: str, cleaned: str, min_chars: int) -> str | None:
    if not cleaned:
        return "boilerplate_only" if raw.strip() else "empty"
    if len(cleaned) < min_chars:
        return "too_short"
    return None


def _prepare(docs: list[Document], out_dir: Path, settings: PrepareSettings, summary: PrepareSummary) -> PrepareSummary:
    summary.documents_in = len(docs)
    kept = []
    for doc in sorted(docs, key=lambda d: (d.id, d.text)):
        cleaned = clean_text(doc.text)
        reason = _drop_reason(doc.text, cleaned, settings.min_chars)
        if reason:
            summary.dropped[reason] += 1
        else:
            kept.append(Document(id=doc.id, text=cleaned, source=doc.source))
    kept, summary.dropped["exact_duplicate"] = drop_exact_duplicates(kept)
    kept, summary.dropped["near_duplicate"] = drop_near_duplicates(kept, settings.near_dup_threshold)
    if not kept:
        raise UserError("no documents left: " + _drop_counts(summary))
    splits = dict(zip(SPLITS, split_documents(kept, settings.validation_fraction, settings.seed)))
    for split, split_docs in splits.items():
        summary.documents[split] = len(split_docs)
        summary.bytes[split] = sum(len(doc.text.encode("utf-8")) for doc in split_docs)
    summary.out_dir = str(out_dir)
    _write(out_dir, splits, summary)
    return summary


def _file_counts(summary: PrepareSummary) -> str:
    """What reading found, for an error message."""
    parts = [f"files: {summary.files_read} read"]
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped ({_first_skips(summary.skipped)})")
    if summary.files_ignored:
        parts.append(f"{summary.files_ignored} ignored (not {_ACCEPTED})")
    return ", ".join(parts)


def _drop_counts(summary: PrepareSummary) -> str:
    """Where the documents went, for an error message."""
    parts = [f"{summary.documents_in} read"]
    for reason, n in summary.dropped.items():
        if n:
            detail = f" (min_chars={summary.settings['min_chars']})" if reason == "too_short" else ""
            parts.append(f"{n} dropped as {reason}{detail}")
    return ", ".join(parts)


def _first_skips(skipped: list[Skip], shown: int = 3) -> str:
    text = "; ".join(f"{skip.where}: {skip.reason}" for skip in skipped[:shown])
    return text + ("; ..." if len(skipped) > shown else "")



def _write(out_dir: Path, splits: dict[str, list[Document]], summary: PrepareSummary) -> None:
    """Write both splits, then summary.json last, each atomically."""
    try:
        for split, docs in splits.items():
            write_documents(out_dir / f"{split}.jsonl", docs)
        write_file(out_dir / "summary.json", json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write the prepared corpus ({exc.strerror or exc})") from None


def _human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = n / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
