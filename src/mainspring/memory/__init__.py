"""Agent memory: short-term, working and long-term entries, persisted, within a token budget.

```python
memory = AgentMemory.open("sqlite:///agent.db", namespace="user-42")
await memory.add_long_term("The user is vegetarian", importance=0.9)
context = await memory.get_context(max_tokens=2000, query="dinner plans")
```
"""

from __future__ import annotations

import typing as _typing

from mainspring.memory.agent_memory import AgentMemory
from mainspring.memory.base import (
    Embedder,
    EntryFilter,
    Hit,
    MemoryEntry,
    MemoryKind,
    MemoryStore,
    Prior,
    StoreStats,
    Summariser,
)
from mainspring.memory.config import MemoryConfig, ScoringWeights
from mainspring.memory.consolidation import ConsolidationReport
from mainspring.memory.context import ContextItem, MemoryContext, TokenCounter
from mainspring.memory.sqlite import SQLiteMemoryStore
from mainspring.memory.stores import open_store
from mainspring.memory.sync import SyncMemory

if _typing.TYPE_CHECKING:
    from mainspring.memory.postgres import PostgresMemoryStore

__all__ = [
    "AgentMemory",
    "ConsolidationReport",
    "ContextItem",
    "Embedder",
    "EntryFilter",
    "Hit",
    "MemoryConfig",
    "MemoryContext",
    "MemoryEntry",
    "MemoryKind",
    "MemoryStore",
    "PostgresMemoryStore",
    "Prior",
    "SQLiteMemoryStore",
    "ScoringWeights",
    "StoreStats",
    "Summariser",
    "SyncMemory",
    "TokenCounter",
    "open_store",
]


def __getattr__(name: str) -> _typing.Any:
    # The PostgreSQL store needs the `postgres` extra; import it only when asked for.
    if name == "PostgresMemoryStore":
        from mainspring.memory.postgres import PostgresMemoryStore

        return PostgresMemoryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
