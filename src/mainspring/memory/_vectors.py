"""Brute-force cosine similarity for stores without a vector index.

Vectors are compared in process: with numpy (present wherever the `embeddings` extra is) one
matrix product, otherwise plain Python. Either way the cost grows with the namespace, which is
fine to tens of thousands of entries; an index (pgvector, sqlite-vec) is the step beyond.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

Vector = Sequence[float] | bytes
"""A vector, or its float32 little-endian packing (as SQLite stores it)."""


def _floats(vector: Vector) -> Sequence[float]:
    if isinstance(vector, bytes):
        return struct.unpack(f"<{len(vector) // 4}f", vector)
    return vector


def _dimensions(vector: Vector) -> int:
    return len(vector) // 4 if isinstance(vector, bytes) else len(vector)


def _python(rows: Sequence[tuple[str, Vector]], query: Sequence[float]) -> list[float]:
    query_norm = math.sqrt(sum(x * x for x in query))
    scores = []
    for _, packed in rows:
        vector = _floats(packed)
        if len(vector) != len(query):
            scores.append(0.0)
            continue
        norm = math.sqrt(sum(x * x for x in vector)) * query_norm
        dot = sum(x * y for x, y in zip(vector, query, strict=True))
        scores.append(dot / norm if norm else 0.0)
    return scores


def _numpy(rows: Sequence[tuple[str, Vector]], query: Sequence[float]) -> list[float]:
    import numpy as np

    q = np.asarray(query, dtype=np.float32)
    if all(isinstance(vector, bytes) for _, vector in rows):  # no per-float Python objects
        blob = b"".join(vector for _, vector in rows if isinstance(vector, bytes))
        matrix = np.frombuffer(blob, dtype="<f4").reshape(len(rows), len(query))
    else:
        matrix = np.asarray([_floats(vector) for _, vector in rows], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    dots = matrix @ q
    scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return [float(score) for score in scores]


def most_similar(
    rows: Sequence[tuple[str, Vector]], query: Sequence[float], limit: int
) -> list[tuple[str, float]]:
    """The `limit` (id, cosine) pairs most similar to `query`, best first, similarity > 0."""
    if not rows:
        return []
    same_length = all(_dimensions(vector) == len(query) for _, vector in rows)
    try:
        scores = _numpy(rows, query) if same_length else _python(rows, query)
    except ImportError:
        scores = _python(rows, query)
    ranked = sorted(
        ((row[0], score) for row, score in zip(rows, scores, strict=True) if score > 0),
        key=lambda pair: pair[1],
        reverse=True,
    )
    return ranked[:limit]
