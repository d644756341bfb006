"""`SyncMemory`: `AgentMemory`'s common calls for scripts and notebooks without an event loop.

The async `AgentMemory` stays the one implementation: this facade runs it on an event loop in
a background thread (an anyio blocking portal) that lives as long as the facade, so a store's
connections stay bound to one loop across calls. Like `Agent.run_sync`, it refuses to run
inside an event loop, where `await memory.<call>(...)` is the right spelling.

```python
from mainspring.memory.sync import SyncMemory

with SyncMemory.open("sqlite:///agent.db", namespace="user-42") as memory:
    memory.add_long_term("The user is vegetarian", importance=0.9)
    print(memory.get_context(200, query="dinner").text)
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from mainspring.errors import ConfigurationError
from mainspring.memory.agent_memory import AgentMemory
from mainspring.memory.base import EntryFilter, MemoryEntry, StoreStats
from mainspring.memory.consolidation import ConsolidationReport
from mainspring.memory.context import Candidate, MemoryContext

T = TypeVar("T")


def _no_running_loop(what: str) -> None:
    try:
        anyio.get_current_task()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"SyncMemory.{what}() was called from inside a running event loop; use AgentMemory "
        "there (`await memory.<call>(...)`)"
    )


class SyncMemory:
    """Blocking calls over an `AgentMemory`; close it (or use `with`) to release the store."""

    def __init__(self, memory: AgentMemory) -> None:
        """Wrap `memory`; its store is closed with the facade."""
        _no_running_loop("__init__")
        self.memory = memory
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal()
        self._portal: BlockingPortal | None = self._portal_cm.__enter__()

    @classmethod
    def open(cls, url: str, *, namespace: str = "default", **options: Any) -> SyncMemory:
        """Open the store at `url` for `namespace` (options as for `AgentMemory.open`)."""
        return cls(AgentMemory.open(url, namespace=namespace, **options))

    def _call(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        _no_running_loop(what)
        if self._portal is None:
            raise ConfigurationError(f"SyncMemory.{what}() after close(); open a new one")

        async def call() -> T:
            return await fn(*args, **kwargs)

        return self._portal.call(call)

    def add_long_term(
        self,
        content: str,
        *,
        importance: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> MemoryEntry:
        """Remember a durable fact (see `AgentMemory.add_long_term`)."""
        return self._call(
            "add_long_term",
            self.memory.add_long_term,
            content,
            importance=importance,
            metadata=metadata,
            ttl=ttl,
        )

    def add_short_term(
        self, content: str, *, importance: float = 0.5, metadata: Mapping[str, Any] | None = None
    ) -> MemoryEntry:
        """Remember a recent message (see `AgentMemory.add_short_term`)."""
        return self._call(
            "add_short_term",
            self.memory.add_short_term,
            content,
            importance=importance,
            metadata=metadata,
        )

    def get_context(self, max_tokens: int, query: str | None = None) -> MemoryContext:
        """Relevant memory within `max_tokens` (see `AgentMemory.get_context`)."""
        return self._call("get_context", self.memory.get_context, max_tokens, query)

    def search(self, query: str, *, limit: int = 10) -> list[Candidate]:
        """Long-term entries ranked for `query`, best first."""
        return self._call("search", self.memory.search, query, limit=limit)

    def find(self, where: EntryFilter | None = None) -> list[MemoryEntry]:
        """Entries matching `where` (all of the namespace when None)."""
        return self._call("find", self.memory.find, where)

    def forget(self, where: EntryFilter) -> int:
        """Delete the entries matching `where`; returns how many."""
        return self._call("forget", self.memory.forget, where)

    def stats(self) -> StoreStats:
        """Entries and bytes per kind, evictions and counters."""
        return self._call("stats", self.memory.stats)

    def export(self) -> list[dict[str, Any]]:
        """Every entry of the namespace as JSON-ready dicts."""
        return self._call("export", self.memory.export)

    def import_entries(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Load `export()` records (same ids replace); returns the count."""
        return self._call("import_entries", self.memory.import_entries, list(records))

    def consolidate(self) -> ConsolidationReport:
        """Promote, dedupe and summarise (see `AgentMemory.consolidate`)."""
        return self._call("consolidate", self.memory.consolidate)

    def close(self) -> None:
        """Close the store and stop the background loop. Safe to call twice."""
        if self._portal is None or self._portal_cm is None:
            return
        try:
            self._portal.call(self.memory.close)
        finally:
            self._portal = None
            cm, self._portal_cm = self._portal_cm, None
            cm.__exit__(None, None, None)

    def __enter__(self) -> SyncMemory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
