"""Split documents into token-budgeted, paragraph-aware, overlapping chunks.

An embedder sees at most its own window (all-MiniLM-L6-v2: 256 word pieces, two of
them [CLS]/[SEP]), and a chunk that says one thing embeds better than one that says
five. So a chunk is whole paragraphs when they fit, whole sentences when a paragraph
does not, and a hard cut at token boundaries only for a sentence longer than the
budget. Each chunk begins with up to `overlap` tokens of the previous one (from a
sentence start when one lies in that span), so a fact cut by a boundary is still
whole in one chunk. Chunks keep character offsets into the document.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from adaptlab.errors import UserError

TokenSpans = Callable[[str], list[tuple[int, int]]]
"""Text -> the (start, end) character span of each token, in order."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ChunkSettings:
    """Tokens per chunk (without the embedder's special tokens) and tokens repeated from the previous chunk."""

    max_tokens: int = 128
    overlap: int = 16

    def __post_init__(self) -> None:
        if not 8 <= self.max_tokens <= 254:
            raise UserError(f"max_tokens={self.max_tokens}: must be from 8 to 254 (the embedder reads 256 word "
                            "pieces, two of them special)")
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise UserError(f"overlap={self.overlap}: must be from 0 to half of max_tokens ({self.max_tokens // 2})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: `text == document_text[start:end]`."""

    doc_id: str
    index: int
    start: int
    end: int
    text: str


def joined(chunks: Iterable[Chunk]) -> str:
    """A document's text as its chunks cover it, overlaps once; a gap between two chunks (the
    whitespace chunking drops) as a paragraph break, so sentences stay apart."""
    text, covered = "", 0
    for chunk in sorted(chunks, key=lambda c: c.start):
        if chunk.end <= covered:
            continue
        if chunk.start > covered and text:
            text += "\n\n"
        text += chunk.text[max(0, covered - chunk.start):]
        covered = chunk.end
    return text


def hf_token_spans(tokenizer: Any) -> TokenSpans:
    """Token spans from a Hugging Face fast tokenizer's offset mapping (special tokens left out)."""

    def spans(text: str) -> list[tuple[int, int]]:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]

    return spans


class _Tokens:
    """The tokens of one document: counts inside a character range, and where words begin.

    Chunks start only at word starts, so a chunk re-tokenizes to the tokens counted here."""

    def __init__(self, text: str, spans: list[tuple[int, int]]):
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.word = [s == 0 or text[s - 1].isspace() for s in self.starts]

    def count(self, start: int, end: int) -> int:
        return max(0, bisect_right(self.ends, end) - bisect_left(self.starts, start))

    def word_start_after(self, i: int, stop: int) -> int:
        """Index of the first token in [i, stop) that begins a word, else `i`."""
        return next((j for j in range(i, stop) if self.word[j]), i)

    def word_start_before(self, i: int, stop: int) -> int:
        """Index of the last token in (i, stop] that begins a word, else `stop`."""
        return next((j for j in range(stop, i, -1) if self.word[j]), stop)


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a hard-cut piece of one) that fits a chunk; `paragraph` numbers its paragraph."""

    start: int
    end: int
    paragraph: int


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())


def _split(text: str, pattern: re.Pattern[str], start: int, end: int) -> Iterator[tuple[int, int]]:
    """Non-blank pieces of text[start:end] between matches of `pattern`, stripped."""
    for m in [*pattern.finditer(text, start, end), None]:
        stop = m.start() if m else end
        a, b = _stripped(text, start, stop)
        if b > a:
            yield a, b
        if m:
            start = m.end()


def sentences(text: str) -> list[str]:
    """The sentences of each paragraph of `text`, in order, stripped."""
    return [text[a:b] for ps, pe in _split(text, _PARAGRAPH_BREAK, 0, len(text))
            for a, b in _split(text, _SENTENCE_END, ps, pe)]


def _units(text: str, tokens: _Tokens, limit: int) -> list[_Unit]:
    """Sentences of each paragraph, a sentence over `limit` tokens hard-cut into `limit`-token pieces."""
    units = []
    for p, (ps, pe) in enumerate(_split(text, _PARAGRAPH_BREAK, 0, len(text))):
        for ss, se in _split(text, _SENTENCE_END, ps, pe):
            first, last = bisect_left(tokens.starts, ss), bisect_right(tokens.ends, se)
            if last - first <= limit:
                units.append(_Unit(ss, se, p))
                continue
            i = first
            while i < last:  # cut before a word start where one lies in the piece
                j = last if last - i <= limit else tokens.word_start_before(i, i + limit)
                units.append(_Unit(tokens.starts[i], tokens.ends[j - 1], p))
                i = j
    return units


def _overlap_start(unit_starts: list[int], tokens: _Tokens, chunk_start: int, end: int, overlap: int) -> int | None:
    """Where the next chunk starts so it repeats at most `overlap` tokens (and less than the whole chunk)
    before `end`: the earliest sentence start in that span, else word start; None for no overlap."""
    n = min(overlap, tokens.count(chunk_start, end) - 1)
    if n <= 0:
        return None
    last = bisect_right(tokens.ends, end)
    lowest = tokens.starts[tokens.word_start_after(last - n, last)]
    j = bisect_left(unit_starts, lowest)
    return unit_starts[j] if j < len(unit_starts) and unit_starts[j] < end else lowest


def chunk_text(doc_id: str, text: str, settings: ChunkSettings, token_spans: TokenSpans) -> list[Chunk]:
    """Chunks of one document, in order; none for a blank one."""
    tokens = _Tokens(text, token_spans(text))
    budget, overlap = settings.max_tokens, settings.overlap
    units = _units(text, tokens, budget - overlap)  # so a unit always fits after an overlap
    unit_starts = [u.start for u in units]
    chunks: list[Chunk] = []
    i, start = 0, None
    while i < len(units):
        first = i
        start = units[i].start if start is None else start
        while i < len(units) and tokens.count(start, units[i].end) <= budget:
            i += 1
        if i < len(units) and units[i].paragraph == units[i - 1].paragraph:
            i = _paragraph_break(units, tokens, first, i, budget - overlap)
        end = units[i - 1].end
        chunks.append(Chunk(doc_id, len(chunks), start, end, text[start:end]))
        start = _overlap_start(unit_starts, tokens, start, end, overlap)
    return chunks


def _paragraph_break(units: list[_Unit], tokens: _Tokens, first: int, stop: int, room: int) -> int:
    """End a chunk at the start of the paragraph it would cut, if that paragraph fits `room` tokens on its own
    and the chunk has new units before it; else at `stop`."""
    para = units[stop].paragraph
    begin = next((j for j in range(stop - 1, first, -1) if units[j - 1].paragraph != para), None)
    if begin is None:
        return stop
    last = max(j for j in range(stop, len(units)) if units[j].paragraph == para)
    return begin if tokens.count(units[begin].start, units[last].end) <= room else stop
