"""Copy-constrained decoding: the output must be a span of whole words of given source texts.

Why: a small reader that has learned *where* an answer lies in its passages still garbles
invented names when it copies them token by token ("Zikpemex" for "Zikmina"), and stops
mid-word. Keeping each step to the tokens that leave the output a span of a source, one
that starts at a word's start and may only end at a word's end, makes the copy exact — the
extractive reader of open-domain QA, done at decode time — while the model still picks
where the span starts and where it stops. Runs of whitespace count as one space, and
blanks before the span are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

_BLANKS = re.compile(r"\s+")


def _spaced(text: str) -> str:
    return _BLANKS.sub(" ", text)


_JOINERS = ".,-*/:"  # inside a word when between letters or digits: 22.6, KSD-31*7, 15q17.3


def _joined(text: str, i: int) -> bool:
    """Whether text[i] is a joiner with a letter or digit on both sides."""
    return 0 < i < len(text) - 1 and text[i] in _JOINERS and text[i - 1].isalnum() and text[i + 1].isalnum()


def word_starts_at(text: str, i: int) -> bool:
    """Whether a span of `text` starting at `i` starts at a word's start (cuts no word)."""
    return i == 0 or not (text[i - 1].isalnum() or _joined(text, i - 1))


def word_ends_at(text: str, i: int) -> bool:
    """Whether a span of `text` ending before `i` ends at a word's end (cuts no word)."""
    return i == len(text) or not (text[i].isalnum() or _joined(text, i))


@lru_cache(maxsize=4)
def _vocabulary(tokenizer: PreTrainedTokenizerBase) -> tuple[str, ...]:
    """Each token's text, decoded once per tokenizer rather than once per request."""
    return tuple(tokenizer.batch_decode([[i] for i in range(len(tokenizer))]))


class _Source:
    """One row's source texts, joined so that no span crosses from one into the next."""

    def __init__(self, texts: Sequence[str]):
        self.text = "\0".join(_spaced(t) for t in texts)

    def occurrences(self, span: str) -> Iterator[int]:
        """Where `span` (not empty) starts at a word's start."""
        i = self.text.find(span)
        while i >= 0:
            if word_starts_at(self.text, i):
                yield i
            i = self.text.find(span, i + 1)

    def continues(self, span: str) -> bool:
        return not span or next(self.occurrences(span), None) is not None

    def ends(self, span: str) -> bool:
        """Whether `span` is whole words of the source: stopping after it cuts no word."""
        return bool(span) and any(word_ends_at(self.text, i + len(span)) for i in self.occurrences(span))


class CopyConstraint(LogitsProcessor):
    """Masks every token that would take a row's output off its sources.

    `sources[row]` are the texts row `row` may copy from; `prompt_width` is where generation
    starts in `input_ids` (prompts left-padded to one width). EOS and the tokens holding one
    of `stop` end the output: allowed once it is whole words of a source, or when nothing
    else is.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, sources: Sequence[Sequence[str]], prompt_width: int,
                 stop: Sequence[str]):
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        texts = _vocabulary(tokenizer)
        ends = {i for i, text in enumerate(texts) if any(s and s in text for s in stop)}
        ends |= {t for t in (tokenizer.eos_token_id,) if t is not None}
        pieces = [_spaced(text) for text in texts]
        self.ends = torch.tensor(sorted(ends), dtype=torch.long)
        self.sources = [_Source(texts) for texts in sources]
        # per row, the tokens whose text occurs in its sources at all: the only ones worth testing at each step
        self.pieces = [[(i, p) for i, p in enumerate(pieces) if i not in ends and p.strip() in s.text]
                       for s in self.sources]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        for row, generated in enumerate(input_ids[:, self.prompt_width:].tolist()):
            so_far = _spaced(self.tokenizer.decode(generated, skip_special_tokens=True)).lstrip()
            source = self.sources[row]
            keep = [i for i, piece in self.pieces[row] if source.continues((so_far + piece).lstrip())]
            allowed[row, keep] = True
            if not keep or source.ends(so_far.rstrip()):
                allowed[row, self.ends.to(scores.device)] = True
        return scores.masked_fill(~allowed, float("-inf"))
