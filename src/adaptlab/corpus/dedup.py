"""Remove exact and near-duplicate documents, keeping the first of each group.

Duplicates inflate some texts' weight in training and leak between the train and
validation splits. Near duplicates (the same page with a changed date or a typo
fixed) are found with datasketch's MinHash LSH over word 5-gram shingles: the LSH
proposes candidates and the MinHash Jaccard estimate confirms them. Because every
candidate is confirmed, the LSH is tuned to miss few pairs rather than to propose few.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

from adaptlab.corpus.documents import Document

NUM_PERM = 128
SHINGLE_WORDS = 5
_LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative) weights of the band layout
_LSH_MAX_THRESHOLD = 0.99  # datasketch finds no band layout for 1.0; identical sets still collide
_WORD = re.compile(r"\w+")


def drop_exact_duplicates(docs: Sequence[Document]) -> tuple[list[Document], int]:
    """Documents whose text was not seen before, and how many were dropped."""
    seen: set[bytes] = set()
    kept: list[Document] = []
    for doc in docs:
        digest = hashlib.sha256(doc.text.encode("utf-8")).digest()
        if digest not in seen:
            seen.add(digest)
            kept.append(doc)
    return kept, len(docs) - len(kept)


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    """Lower-cased word n-grams; a text shorter than n words is one shingle."""
    words = _WORD.findall(text.lower())
    count = max(len(words) - size + 1, 1)
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(count)}


def drop_near_duplicates(docs: Sequence[Document], threshold: float = 0.8) -> tuple[list[Document], int]:
    """Documents with no earlier kept document of estimated Jaccard similarity >= threshold."""
    minhashes = MinHash.bulk((shingles(doc.text) for doc in docs), num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=min(threshold, _LSH_MAX_THRESHOLD), num_perm=NUM_PERM, weights=_LSH_WEIGHTS)
    kept: list[Document] = []
    for index, (doc, minhash) in enumerate(zip(docs, minhashes)):
        candidates = lsh.query(minhash)
        if any(minhash.jaccard(minhashes[other]) >= threshold for other in candidates):
            continue
        lsh.insert(index, minhash)
        kept.append(doc)
    return kept, len(docs) - len(kept)
