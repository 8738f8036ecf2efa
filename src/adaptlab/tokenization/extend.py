"""Domain tokens: mine the words a tokenizer splits badly, add them, measure the gain.

A general tokenizer cuts invented domain names ("Sholelquor", "MWZ-53") into many
pieces, which costs context length and compute on every mention. Each term is added
in two forms, so it becomes one token both in running text and at a line start:
with its leading space (" Sholelquor", the form inside sentences) and bare.

How a form is added depends on the model, because only one way keeps every other
text's ids unchanged and decode(encode(text)) == text:

- Unigram (SentencePiece style): new vocabulary pieces ("▁Sholelquor") at the top
  score, as SentencePiece's user-defined symbols; Viterbi then always picks them,
  and Metaspace keeps treating spaces as before. Added tokens would not do here:
  Metaspace's default prepend scheme puts a space after every added token.
- BPE, byte-level or character: added tokens matched on the raw text before
  pre-tokenization. Vocabulary entries would not do here: byte-level pre-tokenization
  cuts "MWZ-53" at the hyphen, so no merge could ever join it.

The result saves with `save_pretrained` and loads with plain `AutoTokenizer`.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokenizers import AddedToken
from tokenizers.decoders import Decoder
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from adaptlab.errors import UserError

_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
# Above every trained Unigram piece (log-probabilities, all below 0): the new piece always wins.
_PIECE_SCORE = 0.0


@dataclass(frozen=True)
class TermCandidate:
    """A word worth a token: how often it occurs and how many tokens it costs now."""

    term: str
    count: int
    pieces: int

    @property
    def saving(self) -> int:
        """Tokens saved on the mined text if the word became one token."""
        return self.count * (self.pieces - 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saving": self.saving}


@dataclass(frozen=True)
class NewToken:
    """One added token: its term, its form in the vocabulary, its id and the old pieces it replaces."""

    term: str
    token: str
    id: int
    pieces: list[int]


def mine_domain_terms(
    texts: Iterable[str],
    tokenizer: PreTrainedTokenizerFast,
    *,
    max_terms: int = 500,
    min_count: int = 3,
    min_pieces: int = 3,
) -> list[TermCandidate]:
    """The words of `texts` that would save the most tokens as single tokens, best first.

    Words are whitespace-delimited with surrounding punctuation stripped ("MWZ-53*2."
    gives "MWZ-53*2"); a word needs a letter (numbers are better left to digits), at
    least `min_count` occurrences and at least `min_pieces` tokens after a space, as
    in running text. Ties are broken by the term, so the ranking is reproducible.
    """
    _check_at_least(max_terms=(max_terms, 1), min_count=(min_count, 1), min_pieces=(min_pieces, 2))
    counts = Counter(word for text in texts for word in _words(text))
    frequent = sorted(w for w, n in counts.items() if n >= min_count and any(c.isalpha() for c in w))
    encodings = tokenizer.backend_tokenizer.encode_batch_fast([" " + w for w in frequent], add_special_tokens=False)
    candidates = [
        TermCandidate(word, counts[word], len(enc.ids))
        for word, enc in zip(frequent, encodings)
        if len(enc.ids) >= min_pieces
    ]
    return sorted(candidates, key=lambda c: (-c.saving, c.term))[:max_terms]


def extend_tokenizer(
    tokenizer: PreTrainedTokenizerFast, terms: Sequence[str]
) -> tuple[PreTrainedTokenizerFast, list[NewToken]]:
    """A copy of `tokenizer` with each term as one token; `tokenizer` itself is not changed.

    Returns the new tokenizer and its new tokens, each with the ids of the pieces the old
    tokenizer used for that form (what the model's new rows start from). Forms that are
    already one token are skipped. A tokenizer whose pre-tokenizer would rewrite text
    next to an added token (a prefix space, say) is refused rather than silently broken.
    """
    terms = _check_terms(terms)
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    if backend["model"]["type"] == "Unigram":
        new, added = _add_unigram_pieces(tokenizer, backend, terms)
    else:
        new, added = _add_tokens(tokenizer, terms)
    if not added:
        raise UserError(f"nothing to add: every term is already a single token ({', '.join(terms[:5])})")
    _check_round_trip(tokenizer, new, added)
    return new, added


def tokens_per_byte(texts: Iterable[str], tokenizer: PreTrainedTokenizerFast) -> float:
    """Tokens per UTF-8 byte of `texts`: the tokenizer's cost, comparable across vocabularies."""
    texts = [t for t in texts if t]
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    if n_bytes == 0:
        raise UserError("no text to measure tokens per byte on; accepted: at least one non-empty text")
    encodings = tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    return sum(len(e.ids) for e in encodings) / n_bytes


def read_term_list(path: Path) -> list[str]:
    """A user's terms, one per line; blank lines and surrounding spaces are ignored."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such terms file (expected a text file with one term per line)")
    terms = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not terms:
        raise UserError(f"{path}: the terms file is empty; accepted: one term per line")
    return _check_terms(terms, source=str(path))


def _words(text: str) -> Iterable[str]:
    for raw in text.split():
        word = _EDGE_PUNCTUATION.sub("", raw)
        if word:
            yield word


def _check_at_least(**values: tuple[int, int]) -> None:
    for name, (value, low) in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"{name} {value!r}: accepted: integers >= {low}")


def _check_terms(terms: Sequence[str], source: str = "terms") -> list[str]:
    """The terms, deduplicated in order; each must be one word (no whitespace)."""
    if isinstance(terms, str) or not terms:
        raise UserError(f"{source}: no terms given; accepted: a list of one or more words")
    spaced = [t for t in terms if not t or t != t.strip() or len(t.split()) != 1]
    if spaced:
        raise UserError(f"{source}: {spaced[0]!r} is not a single word; accepted: terms without whitespace")
    return list(dict.fromkeys(terms))


def _add_tokens(tokenizer: PreTrainedTokenizerFast, terms: list[str]) -> tuple[PreTrainedTokenizerFast, list[NewToken]]:
    """Added tokens on the raw text: " term" after any space (it may also start a longer word,
    "Sholelquors" -> " Sholelquor" "s"), and "term" only as a whole word (after a newline or
    bracket). A form the decoder would garble is left out (see `_decodes_as_itself`)."""
    forms = [(term, form, form == term) for term in terms for form in (" " + term, term)]
    pieces = _encode_each(tokenizer, [form for _, form, _ in forms])
    decoder = tokenizer.backend_tokenizer.decoder
    todo = [
        (term, form, whole, ids)
        for (term, form, whole), ids in zip(forms, pieces)
        if len(ids) > 1 and _decodes_as_itself(decoder, form)
    ]
    new = _copy(tokenizer)
    new.add_tokens([AddedToken(form, single_word=whole, normalized=False) for _, form, whole, _ in todo])
    return new, [NewToken(term, form, new.convert_tokens_to_ids(form), ids) for term, form, _, ids in todo]


def _decodes_as_itself(decoder: Decoder | None, form: str) -> bool:
    """Whether an added token decodes to its own text. The byte-level decoder reads a token whose
    characters all lie in its byte alphabet as bytes, so a bare "Sjögren" comes out as "Sj�gren"
    (huggingface/tokenizers#1392, #1915); " Sjögren" is safe, as a space is not in that alphabet.
    The token is decoded second, as Metaspace decoders strip the first token's leading space."""
    return decoder is None or decoder.decode(["x", form]) == "x" + form


def _add_unigram_pieces(
    tokenizer: PreTrainedTokenizerFast, backend: dict, terms: list[str]
) -> tuple[PreTrainedTokenizerFast, list[NewToken]]:
    """New Unigram pieces "▁term" and "term" (in the tokenizer's normalized form), appended
    after the model's vocabulary, so every old id keeps its meaning."""
    model = tokenizer.backend_tokenizer.model
    n_model = len(backend["model"]["vocab"])
    if n_model != len(tokenizer):
        raise UserError(f"tokenizer {tokenizer.name_or_path!r} has added tokens past its Unigram vocabulary; "
                        "accepted: a Unigram tokenizer whose added tokens are all in its vocabulary")
    normalizer = tokenizer.backend_tokenizer.normalizer
    space = _metaspace_replacement(backend["pre_tokenizer"]) or " "
    todo: dict[str, tuple[str, list[int]]] = {}  # form -> (term, old piece ids)
    for term in terms:
        normal = normalizer.normalize_str(term) if normalizer else term
        for form in (space + normal, normal):
            ids = [t.id for t in model.tokenize(form)]
            if len(ids) > 1:
                todo.setdefault(form, (term, ids))
    backend["model"]["vocab"] += [[form, _PIECE_SCORE] for form in todo]
    new = _copy(tokenizer, backend)
    return new, [NewToken(term, form, n_model + i, ids) for i, (form, (term, ids)) in enumerate(todo.items())]


def _metaspace_replacement(pre_tokenizer: dict | None) -> str | None:
    """The character Metaspace puts for a space ("▁"), wherever it sits in the pre-tokenizer."""
    if not pre_tokenizer:
        return None
    if pre_tokenizer["type"] == "Metaspace":
        return pre_tokenizer["replacement"]
    for inner in pre_tokenizer.get("pretokenizers", []):
        found = _metaspace_replacement(inner)
        if found:
            return found
    return None


def _encode_each(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def _copy(tokenizer: PreTrainedTokenizerFast, backend: dict | None = None) -> PreTrainedTokenizerFast:
    """An independent copy through save_pretrained and AutoTokenizer (the path users load by),
    with tokenizer.json replaced by `backend` when given."""
    with tempfile.TemporaryDirectory(prefix="adaptlab-tokenizer-") as tmp:
        tokenizer.save_pretrained(tmp)
        if backend is not None:
            (Path(tmp) / "tokenizer.json").write_text(json.dumps(backend, ensure_ascii=False), encoding="utf-8")
        new = AutoTokenizer.from_pretrained(tmp, local_files_only=True)
    new.name_or_path = ""
    return new


def _check_round_trip(old: PreTrainedTokenizerFast, new: PreTrainedTokenizerFast, added: list[NewToken]) -> None:
    """Terms at a line start, after a space and before punctuation must decode as with the old tokenizer.

    Terms the old tokenizer could not spell (an <unk> among their pieces) are left out:
    they now decode better, not the same.
    """
    unknown = {t.term for t in added if old.unk_token_id in t.pieces}
    terms = [t for t in dict.fromkeys(t.term for t in added) if t not in unknown]
    probe = "\n".join(f"{t} is ({t}), as is {t}." for t in terms)
    before = old.decode(old(probe, add_special_tokens=False)["input_ids"])
    after = new.decode(new(probe, add_special_tokens=False)["input_ids"])
    if after != before:
        pre = old.backend_tokenizer.pre_tokenizer
        raise UserError(f"tokenizer {old.name_or_path!r}: its pre-tokenizer ({pre}) rewrites text next to added "
                        "tokens; accepted: byte-level BPE, character or Unigram tokenizers")
