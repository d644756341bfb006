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
from typing import Literal, NamedTuple

from mainspring.memory.base import MIN_IMPORTANCE, Prior

Column = Literal["importance", "accessed_at"]


class RankKey(NamedTuple):
    """The few columns ranking needs, read without the content."""

    id: str
    importance: float
    accessed_at: float
    created_at: float


Fetch = Callable[[Column, bool, int, int], Awaitable[list[RankKey]]]
"""`fetch(column, descending, offset, limit)`: live entries' keys, sorted by `column`."""

KEY_COLUMNS = "id, importance, accessed_at, created_at"


def _score(prior: Prior, importance: float, accessed_at: float) -> float:
    """`log_prior` of an entry with these values."""
    return (
        prior.importance_weight * math.log(max(importance, MIN_IMPORTANCE))
        + prior.per_second * accessed_at
    )


async def top_by_prior(
    fetch: Fetch, prior: Prior, limit: int, lowest: bool, *, first_chunk: int | None = None
) -> list[str]:
    """The ids of the `limit` entries with the highest (or `lowest`) `log_prior`, best first."""
    if limit <= 0:
        return []
    weighted: list[tuple[Column, float]] = [
        ("importance", prior.importance_weight),
        ("accessed_at", prior.per_second),
    ]
    columns: list[Column] = [column for column, weight in weighted if weight > 0]
    columns = columns or ["accessed_at"]
    sign = -1.0 if lowest else 1.0

    def key(row: RankKey) -> tuple[float, float, str]:
        return (
            sign * _score(prior, row.importance, row.accessed_at),
            sign * row.created_at,
            row.id,
        )

    seen: dict[str, RankKey] = {}
    offset, chunk = 0, first_chunk or max(2 * limit, 64)
    while True:
        last: dict[Column, RankKey] = {}
        done = False
        for column in columns:
            rows = await fetch(column, not lowest, offset, chunk)
            for row in rows:
                seen.setdefault(row.id, row)
            if len(rows) < chunk:
                done = True  # one full pass over a column has seen every entry
            elif rows:
                last[column] = rows[-1]
        best = sorted(seen.values(), key=key, reverse=True)[:limit]
        if done:
            return [row.id for row in best]
        # A column with weight 0 adds nothing to the bound, whatever value stands in for it.
        importance = last["importance"].importance if "importance" in last else 1.0
        accessed = last["accessed_at"].accessed_at if "accessed_at" in last else 0.0
        if len(best) == limit and key(best[-1])[0] >= sign * _score(prior, importance, accessed):
            return [row.id for row in best]
        offset += chunk
        chunk *= 2
