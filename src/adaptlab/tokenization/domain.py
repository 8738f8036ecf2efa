"""`adaptlab tokenizer extend`: give a model's tokenizer domain tokens and grow the model to match.

The output is a run folder whose `model/` loads with plain `AutoTokenizer` and
`AutoModelFor*`, plus `domain_tokens.json`: the terms, the new tokens with the pieces
they replace, and tokens per byte on held-out domain text before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerFast

from adaptlab.errors import UserError
from adaptlab.fileio import check_replaceable, publish_dir
from adaptlab.models.resize import resize_for_new_tokens
from adaptlab.runs import LoadedModel, load_model, read_manifest, write_run_manifest
from adaptlab.tokenization.extend import (
    NewToken,
    TermCandidate,
    extend_tokenizer,
    mine_domain_terms,
    read_term_list,
    tokens_per_byte,
)
from adaptlab.tokenization.train import iter_corpus_texts

REPORT_FILE = "domain_tokens.json"


@dataclass(frozen=True)
class ExtendReport:
    """What `extend_model_and_tokenizer` did; `tokens_per_byte` is None without a corpus to measure on."""

    out_dir: Path
    source: str  # where the terms came from: "mined from <corpus>" or "<terms file>"
    terms: list[str]
    new_tokens: list[NewToken]
    vocab_before: int
    vocab_after: int
    mined: list[TermCandidate] = field(default_factory=list)
    measured_on: str | None = None
    tokens_per_byte: tuple[float, float] | None = None

    @property
    def reduction(self) -> float | None:
        """The fraction of tokens saved on the measured text (0.25: a quarter fewer)."""
        if self.tokens_per_byte is None:
            return None
        before, after = self.tokens_per_byte
        return 1 - after / before

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "source": self.source,
            "terms": self.terms,
            "mined": [c.to_dict() for c in self.mined],
            "new_tokens": [{"term": t.term, "token": t.token, "id": t.id, "pieces": t.pieces} for t in self.new_tokens],
            "vocab_before": self.vocab_before,
            "vocab_after": self.vocab_after,
            "measured_on": self.measured_on,
            "tokens_per_byte": dict(zip(("before", "after"), self.tokens_per_byte)) if self.tokens_per_byte else None,
            "reduction": self.reduction,
        }

    def lines(self) -> list[str]:
        shown = ", ".join(self.terms[:8]) + (", ..." if len(self.terms) > 8 else "")
        lines = [
            f"{len(self.terms)} terms ({self.source}): {shown}",
            f"vocabulary {self.vocab_before:,} -> {self.vocab_after:,} tokens ({len(self.new_tokens)} new)",
        ]
        if self.tokens_per_byte is not None:
            before, after = self.tokens_per_byte
            lines.append(f"tokens per byte on {self.measured_on}: {before:.4f} -> {after:.4f} "
                         f"({self.reduction:.1%} fewer tokens)")
        lines.append(f"wrote {self.out_dir}")
        return lines


def extend_model_and_tokenizer(
    model_path: Path,
    out_dir: Path,
    *,
    corpus_dir: Path | None = None,
    terms_file: Path | None = None,
    max_terms: int = 500,
    min_count: int = 3,
) -> ExtendReport:
    """Add domain tokens to the model at `model_path` (a run or HF folder) and write a run to `out_dir`.

    Terms come from `terms_file` when given, else are mined from the train split of the
    prepared corpus `corpus_dir`. With a corpus, tokens per byte is measured on its
    validation split (train when validation is empty). `out_dir` is written whole, then
    renamed into place: a new or empty folder, or an earlier extension, which it replaces.
    """
    if corpus_dir is None and terms_file is None:
        raise UserError("no terms source; accepted: a prepared corpus to mine (--corpus) or a terms file (--terms)")
    out_dir = Path(out_dir)
    _check_full_model(Path(model_path))
    check_replaceable(out_dir, REPORT_FILE, "extension run")
    user_terms = read_term_list(terms_file) if terms_file is not None else None  # before the slow model load
    loaded = load_model(model_path)
    mined: list[TermCandidate] = []
    if user_terms is not None:
        terms, source = user_terms, str(terms_file)
    else:
        mined = _mine(corpus_dir, loaded.tokenizer, max_terms, min_count)
        terms, source = [c.term for c in mined], f"mined from {corpus_dir}"
    tokenizer, new_tokens = extend_tokenizer(loaded.tokenizer, terms)
    resize_for_new_tokens(loaded.model, len(tokenizer), {t.id: t.pieces for t in new_tokens})
    measured_on, tpb = _measure(corpus_dir, loaded.tokenizer, tokenizer) if corpus_dir else (None, None)
    report = ExtendReport(out_dir, source, terms, new_tokens, len(loaded.tokenizer), len(tokenizer), mined,
                          measured_on, tpb)
    _write_run(out_dir, loaded, tokenizer, report)
    return report


def _mine(corpus_dir: Path, tokenizer: PreTrainedTokenizerFast, max_terms: int, min_count: int) -> list[TermCandidate]:
    texts = iter_corpus_texts(corpus_dir, "train")
    mined = mine_domain_terms(texts, tokenizer, max_terms=max_terms, min_count=min_count)
    if not mined:
        raise UserError(f"{corpus_dir}: nothing to mine; no word occurs {min_count}+ times and splits into "
                        "3+ tokens; accepted: a larger domain corpus, a lower min_count, or a terms file")
    return mined


def _measure(
    corpus_dir: Path, old: PreTrainedTokenizerFast, new: PreTrainedTokenizerFast
) -> tuple[str, tuple[float, float]]:
    """Tokens per byte before and after on held-out text: the validation split, else train."""
    for split in ("validation", "train"):
        texts = [text for text in iter_corpus_texts(corpus_dir, split) if text]
        if texts:
            return f"{corpus_dir} ({split})", (tokens_per_byte(texts, old), tokens_per_byte(texts, new))
    raise UserError(f"{corpus_dir}: the corpus has no text to measure on; accepted: a non-empty prepared corpus")


def _check_full_model(model_path: Path) -> None:
    """An adapter run would save only its adapter, without the grown embeddings: refuse it."""
    manifest = read_manifest(model_path) if model_path.is_dir() else None
    if manifest is not None and manifest["kind"] != "hf":
        raise UserError(f"{model_path}: a {manifest['kind']} adapter run; accepted: a full model run or "
                        "Hugging Face folder (merge the adapter into its base first)")



def _write_run(out_dir: Path, loaded: LoadedModel, tokenizer: PreTrainedTokenizerFast, report: ExtendReport) -> None:
    """Model, tokenizer, manifest and report into a temp folder beside `out_dir`, then renamed over it."""
    with publish_dir(out_dir) as tmp:
        loaded.model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        write_run_manifest(tmp, family=loaded.family, model="model", chat=loaded.chat)
        (tmp / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")

