"""The memory data model and the `MemoryStore` protocol every backend implements.

An entry is one piece of text an agent remembers, of one `MemoryKind`. Stores persist entries per
namespace and answer three kinds of question: "these entries" (`find`), "the entries that match
this text best" (`search`, lexical or semantic) and "the entries that matter most or least"
(`ranked`, by importance and recency). Scoring and budgeting live in `AgentMemory`, not in the
stores, so every backend ranks the same way.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

MemoryKind = Literal["short", "working", "long", "evicted"]
"""`short`: recent conversation; `working`: scratch for the current task; `long`: durable facts;
`evicted`: pushed out of the short-term window and waiting for `consolidate()`."""

KINDS: tuple[MemoryKind, ...] = ("short", "working", "long", "evicted")

_counter = itertools.count()


def last_of_each(entries: Sequence[MemoryEntry]) -> list[MemoryEntry]:
    """The batch with each id once: its last entry, as putting them one at a time would leave.

    In the order the ids first appear.
    """
    last = {(e.namespace, e.id): e for e in entries}
    return list(last.values()) if len(last) < len(entries) else list(entries)


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time within a process (ULID-like)."""
    millis = time.time_ns() // 1_000_000
    seq = next(_counter) & 0xFFFF
    return f"{millis:012x}{seq:04x}{os.urandom(8).hex()}"


@dataclass(slots=True)
class MemoryEntry:
    """One remembered piece of text.

    Times are Unix seconds. `importance` is 0..1; `embedding` is set only when semantic retrieval
    is configured.
    """

    namespace: str
    content: str
    _: KW_ONLY
    kind: MemoryKind = "long"
    id: str = field(default_factory=new_id)
    importance: float = 0.5
    created_at: float = 0.0
    accessed_at: float = 0.0
    access_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    expires_at: float | None = None
    """After this time the entry is never returned and the next prune deletes it."""
    embedding: tuple[float, ...] | None = None

    @property
    def size(self) -> int:
        """Bytes of content, the unit of the per-namespace byte limit."""
        return len(self.content.encode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the export format); `from_dict` reads it back."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "kind": self.kind,
            "content": self.content,
            "importance": self.importance,
            "created_at": self.created_at,
            "accessed_at": self.accessed_at,
            "access_count": self.access_count,
            "metadata": self.metadata,
            "expires_at": self.expires_at,
            "embedding": list(self.embedding) if self.embedding is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, namespace: str | None = None) -> MemoryEntry:
        """Build an entry from `to_dict` output; `namespace` overrides the recorded one."""
        embedding = data.get("embedding")
        kind = data.get("kind", "long")
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r}; expected one of {', '.join(KINDS)}")
        return cls(
            namespace=namespace or str(data["namespace"]),
            content=str(data["content"]),
            kind=kind,
            id=str(data.get("id") or new_id()),
            importance=float(data.get("importance", 0.5)),
            created_at=float(data.get("created_at", 0.0)),
            accessed_at=float(data.get("accessed_at", data.get("created_at", 0.0))),
            access_count=int(data.get("access_count", 0)),
            metadata=dict(data.get("metadata") or {}),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            embedding=None if embedding is None else tuple(float(x) for x in embedding),
        )


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries a `find` or `delete` call applies to. Empty fields match everything."""

    _: KW_ONLY
    ids: Sequence[str] | None = None
    kinds: Sequence[MemoryKind] | None = None
    metadata: Mapping[str, Any] | None = None
    """Entries whose metadata has each of these keys with exactly this (JSON scalar) value."""
    created_before: float | None = None
    created_after: float | None = None
    expired_by: float | None = None
    """Only entries whose `expires_at` is at or before this time (for pruning)."""
    contains: str | None = None
    """Case-sensitive substring of the content."""
    limit: int | None = None
    newest_first: bool = False
    now: float | None = None
    """When set, entries that expired before this time are left out."""


@dataclass(frozen=True, slots=True)
class Prior:
    """Ranks entries by importance and recency alone: the score without a query.

    The log of the score is `importance_weight * ln(importance) + recency_weight * ln(recency)`,
    with `recency = 0.5 ** (age / half_life)`. Because the age term is linear in `accessed_at`,
    the order does not change with time, so a store can sort by it in SQL.
    """

    importance_weight: float = 1.0
    recency_weight: float = 1.0
    half_life: float = 7 * 24 * 3600.0

    @property
    def per_second(self) -> float:
        """The coefficient of `accessed_at` in the log-score."""
        return self.recency_weight * math.log(2) / self.half_life


MIN_IMPORTANCE = 0.01
"""Importance is clamped to this before its log is taken, so 0 ranks last but stays finite."""


def log_prior(entry: MemoryEntry, prior: Prior) -> float:
    """The time-invariant key that `ranked` sorts by (higher is more worth keeping)."""
    importance = max(entry.importance, MIN_IMPORTANCE)
    return prior.importance_weight * math.log(importance) + prior.per_second * entry.accessed_at


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: the entry and its raw relevance (higher is better, store-specific)."""

    entry: MemoryEntry
    relevance: float


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What one namespace holds, and its persistent counters (evictions, expiries, ...)."""

    namespace: str
    entries: Mapping[str, int]
    bytes: Mapping[str, int]
    counters: Mapping[str, int]

    @property
    def evicted(self) -> int:
        """Entries removed to keep within bounds: window overflow plus size-limit evictions."""
        return sum(n for name, n in self.counters.items() if name.startswith("evicted."))


@runtime_checkable
class MemoryStore(Protocol):
    """Persistence for memory entries; every method is scoped to one namespace.

    Implementations: `SQLiteMemoryStore` (default) and `PostgresMemoryStore`. A call never reads or
    changes another namespace's entries, whatever ids it is given.
    """

    async def put(self, entries: Sequence[MemoryEntry]) -> None:
        """Insert entries, replacing any with the same namespace and id, atomically."""
        ...

    async def find(self, namespace: str, where: EntryFilter) -> list[MemoryEntry]:
        """Entries matching `where`, oldest first unless `where.newest_first`."""
        ...

    async def search(
        self,
        namespace: str,
        text: str,
        *,
        kinds: Sequence[MemoryKind],
        limit: int,
        now: float,
        embedding: Sequence[float] | None = None,
    ) -> list[Hit]:
        """Live entries most relevant to `text` (or to `embedding`, when given), best first."""
        ...

    async def ranked(
        self,
        namespace: str,
        prior: Prior,
        *,
        kinds: Sequence[MemoryKind],
        limit: int,
        now: float,
        lowest: bool = False,
    ) -> list[MemoryEntry]:
        """Live entries with the highest (or `lowest`) `log_prior`."""
        ...

    async def touch(self, namespace: str, ids: Sequence[str], at: float) -> None:
        """Record an access: set `accessed_at` and add one to `access_count`."""
        ...

    async def delete(self, namespace: str, where: EntryFilter) -> int:
        """Delete matching entries; returns how many. An empty filter deletes the namespace."""
        ...

    async def count(self, namespace: str, name: str, n: int = 1) -> None:
        """Add `n` to the persistent counter `name` (e.g. `evicted.limit`)."""
        ...

    async def stats(self, namespace: str) -> StoreStats:
        """Entry counts and bytes per kind, and the counters."""
        ...

    async def close(self) -> None:
        """Release connections. The store cannot be used afterwards."""
        ...


@runtime_checkable
class Summariser(Protocol):
    """Condenses several memory texts into one (a model behind a prompt, typically)."""

    async def summarise(self, texts: Sequence[str]) -> str:
        """One text that keeps what matters of `texts`."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for semantic retrieval."""

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, all of the same length."""
        ...
