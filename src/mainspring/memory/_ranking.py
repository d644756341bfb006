"""Top-k by importance x recency without scanning a namespace (Fagin's threshold algorithm).

The log-prior `a * ln(importance) + b * accessed_at` is monotone in both columns, and each column
has an index. Reading both in sorted order, chunk by chunk, the best score any unseen entry could
have is the score of the last importance read combined with the last access time read; once k
seen entries beat that bound, they are the exact top k. Typically one or two chunks suffice, where
sorting by the expression would read every entry of the namespace.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Literal

from mainspring.memory.base import MIN_IMPORTANCE, MemoryEntry, Prior, log_prior

Column = Literal["importance", "accessed_at"]
Fetch = Callable[[Column, bool, int, int], Awaitable[list[MemoryEntry]]]
"""`fetch(column, descending, offset, limit)`: live entries of the namespace sorted by column."""


def _bound(prior: Prior, importance: float, accessed_at: float) -> float:
    return (
        prior.importance_weight * math.log(max(importance, MIN_IMPORTANCE))
        + prior.per_second * accessed_at
    )


async def top_by_prior(
    fetch: Fetch, prior: Prior, limit: int, lowest: bool, *, first_chunk: int = 32
) -> list[MemoryEntry]:
    """The `limit` entries with the highest (or `lowest`) `log_prior`, best first."""
    if limit <= 0:
        return []
    weighted: list[tuple[Column, float]] = [
        ("importance", prior.importance_weight),
        ("accessed_at", prior.per_second),
    ]
    columns: list[Column] = [column for column, weight in weighted if weight > 0]
    columns = columns or ["accessed_at"]
    sign = -1.0 if lowest else 1.0

    def key(entry: MemoryEntry) -> tuple[float, float, str]:
        return (sign * log_prior(entry, prior), sign * entry.created_at, entry.id)

    seen: dict[str, MemoryEntry] = {}
    offset, chunk = 0, max(limit, first_chunk)
    while True:
        last: dict[Column, MemoryEntry] = {}
        done = False
        for column in columns:
            rows = await fetch(column, not lowest, offset, chunk)
            for entry in rows:
                seen.setdefault(entry.id, entry)
            if len(rows) < chunk:
                done = True  # one full pass over a column has seen every entry
            elif rows:
                last[column] = rows[-1]
        best = sorted(seen.values(), key=key, reverse=True)[:limit]
        if done:
            return best
        # A column with weight 0 adds nothing to the bound, whatever value stands in for it.
        importance = last["importance"].importance if "importance" in last else 1.0
        accessed = last["accessed_at"].accessed_at if "accessed_at" in last else 0.0
        bound = sign * _bound(prior, importance, accessed)
        if len(best) == limit and sign * log_prior(best[-1], prior) >= bound:
            return best
        offset += chunk
        chunk *= 2
