"""`AgentMemory`: short-term, working and long-term memory over a `MemoryStore`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from mainspring.clock import Clock, WallClock
from mainspring.errors import ConfigurationError
from mainspring.memory.base import (
    Embedder,
    EntryFilter,
    MemoryEntry,
    MemoryKind,
    MemoryStore,
    StoreStats,
    Summariser,
)
from mainspring.memory.config import MemoryConfig
from mainspring.memory.consolidation import ConsolidationReport, consolidate
from mainspring.memory.context import (
    Candidate,
    MemoryContext,
    Packer,
    TokenCounter,
    as_tokenizer,
)
from mainspring.memory.stores import open_store
from mainspring.tokens import Tokenizer, default_tokenizer

if TYPE_CHECKING:
    from mainspring.models.base import Model
SummariseFn = Callable[[Sequence[str]], Awaitable[str]]


class _FunctionClock:
    """A `Clock` over a function of no arguments (the shorthand `AgentMemory` accepts)."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read

    def now(self) -> float:
        """The function's reading."""
        return self._read()


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """A `Clock`: the one given, `WallClock()` for None, or one over a plain function."""
    if clock is None:
        return WallClock()
    if hasattr(clock, "now"):
        return clock
    return _FunctionClock(clock)


def _as_summariser(
    summariser: Summariser | SummariseFn | Model | None,
) -> Summariser | SummariseFn | None:
    from mainspring.models.base import Model

    if isinstance(summariser, Model):  # wrap it so consolidate() sees one kind of summariser
        from mainspring.memory.summariser import ModelSummariser

        return ModelSummariser(summariser)
    return summariser


class AgentMemory:
    """One namespace of an agent's memory, persisted in a `MemoryStore`.

    Short-term entries form a window of recent conversation bounded by count and tokens; working
    entries are scratch for the current task; long-term entries are durable facts ranked by
    relevance, importance and recency (see `ScoringWeights`). Every method touches only
    `namespace`: `scoped()` gives a view of another namespace over the same store.
    """

    def __init__(
        self,
        store: MemoryStore,
        *,
        namespace: str = "default",
        config: MemoryConfig | None = None,
        tokenizer: TokenCounter | None = None,
        summariser: Summariser | SummariseFn | Model | None = None,
        embedder: Embedder | None = None,
        clock: Clock | Callable[[], float] | None = None,
    ) -> None:
        """Wrap `store`.

        Args:
            store: Where entries live.
            namespace: The agent, user or session this view reads and writes.
            config: Bounds, weights and policies.
            tokenizer: Counts tokens for the short-term window and, unless `get_context` is
                given another, for contexts: pass the model's (`model.tokenizer`). Default:
                `o200k_base`.
            summariser: Condenses evicted short-term entries in `consolidate()`: a `Model`, a
                `Summariser` or an async function of the texts.
            embedder: Enables semantic retrieval (see `mainspring.memory.embeddings`).
            clock: A `Clock` of Unix seconds (default `WallClock()`); inject one (a
                `FakeClock`) to test TTL and recency. A plain function of no arguments is
                accepted as shorthand.
        """
        if not namespace:
            raise ConfigurationError("namespace must be a non-empty string, e.g. 'user-42'")
        self.store = store
        self.namespace = namespace
        self.config = config or MemoryConfig()
        self.tokenizer: Tokenizer = as_tokenizer(tokenizer or default_tokenizer())
        self.summariser = _as_summariser(summariser)
        self.embedder = embedder
        self.clock: Clock = as_clock(clock)
        self._token_counts: dict[int, tuple[object, LRUCache[str, int]]] = {}

    @classmethod
    def open(cls, url: str, *, namespace: str = "default", **options: Any) -> AgentMemory:
        """Open the store at `url` (`sqlite:///agent.db`, `postgresql://...`) for `namespace`.

        `options` are `AgentMemory`'s keyword arguments (config, tokenizer, summariser, ...).
        """
        return cls(open_store(url), namespace=namespace, **options)

    def scoped(self, namespace: str) -> AgentMemory:
        """The same store and settings, seen through another namespace."""
        return AgentMemory(
            self.store,
            namespace=namespace,
            config=self.config,
            tokenizer=self.tokenizer,
            summariser=self.summariser,
            embedder=self.embedder,
            clock=self.clock,
        )

    async def close(self) -> None:
        """Close the underlying store (shared by every `scoped` view)."""
        await self.store.close()

    async def __aenter__(self) -> AgentMemory:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- writing ----------------------------------------------------------------------------

    def entry(
        self,
        content: str,
        *,
        kind: MemoryKind = "long",
        importance: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> MemoryEntry:
        """Build (not store) an entry of this namespace, stamped with the clock's time."""
        if not 0 <= importance <= 1:
            raise ValueError(f"importance must be between 0 and 1, got {importance}")
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl}")
        now = self.clock.now()
        if ttl is None and kind == "long":
            ttl = self.config.long_term_ttl
        return MemoryEntry(
            self.namespace,
            content,
            kind=kind,
            importance=importance,
            created_at=now,
            accessed_at=now,
            metadata=dict(metadata or {}),
            expires_at=None if ttl is None else now + ttl,
        )

    async def add(self, entries: Sequence[MemoryEntry]) -> None:
        """Store entries in one batch, then apply the window and size limits once."""
        for entry in entries:
            if entry.namespace != self.namespace:
                raise ConfigurationError(
                    f"entry {entry.id} belongs to namespace {entry.namespace!r}, not "
                    f"{self.namespace!r}; build it with memory.entry(...) or memory.scoped(...)"
                )
        await self._embed([e for e in entries if e.kind == "long" and e.embedding is None])
        await self.store.put(entries)
        kinds = {entry.kind for entry in entries}
        if "short" in kinds:
            await self._trim_window()
        if "long" in kinds:
            await self._enforce_limits()

    async def add_short_term(
        self, content: str, *, importance: float = 0.5, metadata: Mapping[str, Any] | None = None
    ) -> MemoryEntry:
        """Remember a recent message; the oldest fall out of the window when it is full."""
        entry = self.entry(content, kind="short", importance=importance, metadata=metadata)
        await self.add([entry])
        return entry

    async def add_working(
        self, content: str, *, importance: float = 0.5, metadata: Mapping[str, Any] | None = None
    ) -> MemoryEntry:
        """Note scratch for the current task; `clear_working()` drops it when the task ends."""
        entry = self.entry(content, kind="working", importance=importance, metadata=metadata)
        await self.add([entry])
        return entry

    async def add_long_term(
        self,
        content: str,
        *,
        importance: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> MemoryEntry:
        """Remember a durable fact; `importance` (0..1) weighs its retrieval and retention."""
        entry = self.entry(content, kind="long", importance=importance, metadata=metadata, ttl=ttl)
        await self.add([entry])
        return entry

    async def clear_working(self) -> int:
        """Forget the working scratch; returns how many entries went."""
        return await self.store.delete(self.namespace, EntryFilter(kinds=["working"]))

    async def _embed(self, entries: Sequence[MemoryEntry]) -> None:
        if self.embedder is None or not entries:
            return
        vectors = await self.embedder.embed([entry.content for entry in entries])
        for entry, vector in zip(entries, vectors, strict=True):
            entry.embedding = tuple(vector)

    async def _trim_window(self) -> None:
        recent = await self.store.find(
            self.namespace, EntryFilter(kinds=["short"], newest_first=True)
        )
        tokens, keep = 0, 0
        counts = self._count_cache(self.tokenizer)
        for entry in recent:
            count = counts.get(entry.content)
            if count is None:
                count = counts[entry.content] = self.tokenizer.count(entry.content)
            tokens += count
            if keep >= self.config.short_term_max_entries or (
                keep and tokens > self.config.short_term_max_tokens
            ):
                break
            keep += 1
        out = recent[keep:]
        if out:
            for entry in out:
                entry.kind = "evicted"
            await self.store.put(out)
            await self.store.count(self.namespace, "evicted.window", len(out))

    async def _enforce_limits(self) -> None:
        config = self.config
        if config.long_term_max_entries is None and config.long_term_max_bytes is None:
            return
        stats = await self.store.stats(self.namespace)
        excess_entries = stats.entries.get("long", 0) - (config.long_term_max_entries or 1 << 62)
        excess_bytes = stats.bytes.get("long", 0) - (config.long_term_max_bytes or 1 << 62)
        while excess_entries > 0 or excess_bytes > 0:
            lowest = await self.store.ranked(
                self.namespace,
                config.weights.prior,
                kinds=["long"],
                limit=max(excess_entries, 0) + 64,
                now=float("-inf"),
                lowest=True,
            )
            victims: list[str] = []
            for entry in lowest:
                if excess_entries <= 0 and excess_bytes <= 0:
                    break
                victims.append(entry.id)
                excess_entries -= 1
                excess_bytes -= entry.size
            if not victims:
                break
            await self.store.delete(self.namespace, EntryFilter(ids=victims))
            await self.store.count(self.namespace, "evicted.limit", len(victims))

    # -- reading ----------------------------------------------------------------------------

    async def get_context(
        self,
        max_tokens: int,
        query: str | None = None,
        *,
        tokenizer: TokenCounter | None = None,
    ) -> MemoryContext:
        """Working, recent short-term and the best long-term entries within `max_tokens`.

        The result's `tokens` is `tokenizer.count(result.text)` and is never over `max_tokens`.
        Working then short-term entries (newest first) take up to `1 - config.long_term_share`
        of the budget, long-term entries (best score first) the rest, and recent entries any room
        left over. Within each step an entry that does not fit is skipped for smaller ones.
        """
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        now = self.clock.now()
        recent = await self._recent(now)
        ranked = await self._score_long_term(query, now)
        packer = Packer(
            max_tokens,
            as_tokenizer(tokenizer) if tokenizer else self.tokenizer,
            self._count_cache(tokenizer or self.tokenizer),
        )
        recent_ceiling = max_tokens - round(max_tokens * self.config.long_term_share)
        for entry in recent:
            packer.offer(Candidate(entry, 1.0, recent_ceiling, truncate=False))
        for candidate in ranked:
            packer.offer(Candidate(candidate.entry, candidate.score, max_tokens, truncate=False))
        # Last, what is left: entries larger than the whole budget are cut to the room left.
        for candidate in [*(Candidate(e, 1.0, max_tokens) for e in recent), *ranked]:
            packer.offer(Candidate(candidate.entry, candidate.score, max_tokens))
        context = packer.result()
        if self.config.touch_on_read:
            ids = [item.entry.id for item in context.items if item.entry.kind == "long"]
            await self.store.touch(self.namespace, ids, now)
        return context

    def _count_cache(self, tokenizer: object) -> LRUCache[str, int]:
        # Recent entries are in every context and long-term ones recur: count each text once
        # per tokenizer (keyed by the object the caller passed, which the cache keeps alive).
        cache = self._token_counts.get(id(tokenizer))
        if cache is None or cache[0] is not tokenizer:
            if len(self._token_counts) >= 8:
                self._token_counts.pop(next(iter(self._token_counts)))
            cache = self._token_counts[id(tokenizer)] = (tokenizer, LRUCache(maxsize=10_000))
        return cache[1]

    async def _recent(self, now: float) -> list[MemoryEntry]:
        working = await self.store.find(
            self.namespace, EntryFilter(kinds=["working"], newest_first=True, now=now)
        )
        short = await self.store.find(
            self.namespace,
            EntryFilter(
                kinds=["short"],
                newest_first=True,
                now=now,
                limit=self.config.short_term_max_entries,
            ),
        )
        return working + short

    async def _score_long_term(self, query: str | None, now: float) -> list[Candidate]:
        weights, limit = self.config.weights, self.config.candidates
        relevance: dict[str, float] = {}
        entries: dict[str, MemoryEntry] = {}
        if query:
            vector = None
            if self.embedder is not None:
                vector = (await self.embedder.embed([query]))[0]
            for embedding in [None, vector] if vector is not None else [None]:
                hits = await self.store.search(
                    self.namespace,
                    query,
                    kinds=["long"],
                    limit=limit,
                    now=now,
                    embedding=embedding,
                )
                best = max((hit.relevance for hit in hits), default=0.0)
                for hit in hits:
                    share = hit.relevance / best if best > 0 else 0.0
                    entries[hit.entry.id] = hit.entry
                    relevance[hit.entry.id] = max(relevance.get(hit.entry.id, 0.0), share)
        for entry in await self.store.ranked(
            self.namespace, weights.prior, kinds=["long"], limit=limit, now=now
        ):
            entries.setdefault(entry.id, entry)
        scored = [
            Candidate(
                entry,
                weights.score(entry, relevance.get(entry.id, 0.0) if query else 1.0, now),
                0,
            )
            for entry in entries.values()
        ]
        scored.sort(key=lambda c: c.score, reverse=True)
        return scored

    async def search(self, query: str, *, limit: int = 10) -> list[Candidate]:
        """Long-term entries ranked for `query` exactly as `get_context` ranks them."""
        return (await self._score_long_term(query, self.clock.now()))[:limit]

    async def find(self, where: EntryFilter | None = None) -> list[MemoryEntry]:
        """Entries of this namespace matching `where` (all of them by default)."""
        return await self.store.find(self.namespace, where or EntryFilter())

    # -- housekeeping -------------------------------------------------------------------------

    async def forget(self, where: EntryFilter) -> int:
        """Delete entries by id or filter (privacy requests); returns how many went."""
        return await self.store.delete(self.namespace, where)

    async def prune(self) -> int:
        """Delete expired entries (counted as `expired`) and enforce the size limits."""
        expired = await self.store.delete(self.namespace, EntryFilter(expired_by=self.clock.now()))
        if expired:
            await self.store.count(self.namespace, "expired", expired)
        await self._enforce_limits()
        return expired

    async def stats(self) -> StoreStats:
        """Entries and bytes per kind, and counters such as `evicted.limit` and `expired`."""
        return await self.store.stats(self.namespace)

    async def export(self) -> list[dict[str, Any]]:
        """Every entry of the namespace as JSON-ready dicts, oldest first."""
        return [entry.to_dict() for entry in await self.find()]

    async def import_entries(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Load `export()` records into this namespace (same ids replace); returns the count.

        A record without `created_at` is stamped with the clock's time now (not 1970, which
        would make it the least recent entry of all).
        """
        now = self.clock.now()
        entries = [
            MemoryEntry.from_dict(
                record if "created_at" in record else {"created_at": now, **record},
                namespace=self.namespace,
            )
            for record in records
        ]
        await self.add(entries)
        return len(entries)

    async def consolidate(self) -> ConsolidationReport:
        """Promote important short-term entries, dedupe them, summarise the evicted window."""
        return await consolidate(self)
