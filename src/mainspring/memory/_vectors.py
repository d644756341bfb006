"""Cosine similarity in pure Python, for stores without a vector index."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mainspring.memory.base import Hit, MemoryEntry


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors; 0 when either is all zeros or their lengths differ."""
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def cosine_hits(entries: Sequence[MemoryEntry], query: Sequence[float], limit: int) -> list[Hit]:
    """The `limit` entries whose embeddings are most similar to `query`, best first."""
    hits = [
        Hit(entry, cosine(entry.embedding, query))
        for entry in entries
        if entry.embedding is not None
    ]
    hits = [hit for hit in hits if hit.relevance > 0]
    hits.sort(key=lambda hit: hit.relevance, reverse=True)
    return hits[:limit]
