import numpy as np
import pytest

from adaptlab.errors import UserError
from adaptlab.retrieval.embeddings import Embedder, default_embedder


def test_vectors_are_unit_length_and_semantic():
    emb = default_embedder()
    v = emb.encode(["The dose of aspirin for adults.", "Adult aspirin dosage.", "A red bicycle in the rain."])
    assert v.shape == (3, emb.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_empty_input_and_bad_model_folder(tmp_path):
    assert default_embedder().encode([]).shape == (0, default_embedder().dim)
    with pytest.raises(UserError, match="no config.json"):
        Embedder(tmp_path)
