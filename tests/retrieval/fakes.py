"""A fast, deterministic stand-in for the sentence embedder, for tests of index mechanics.

It hashes words into a unit vector, counts what it embeds, and can pause before each
batch (and announce it in a file) so a test can kill an update while it embeds.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


@cache
def bert_tokenizer() -> Any:
    """all-MiniLM-L6-v2's tokenizer alone: counts word pieces without loading the model."""
    from transformers import AutoTokenizer

    from adaptlab.retrieval.embeddings import bundled_model_path

    return AutoTokenizer.from_pretrained(bundled_model_path())


class HashEmbedder:
    dim = 32

    def __init__(self, name: str = "hash-words", *, pause: float = 0.0, announce: Path | None = None):
        self.name = name
        self.pause = pause
        self.announce = announce
        self.embedded = 0

    @property
    def tokenizer(self) -> Any:
        return bert_tokenizer()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.announce is not None:
            self.announce.write_text(str(self.embedded))
        time.sleep(self.pause)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        self.embedded += len(texts)
        return out
