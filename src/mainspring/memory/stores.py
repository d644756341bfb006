"""Open a `MemoryStore` from a URL: `sqlite:///path.db`, `sqlite://:memory:`, `postgresql://...`."""

from __future__ import annotations

from mainspring.errors import ConfigurationError
from mainspring.memory.base import MemoryStore


def open_store(url: str) -> MemoryStore:
    """The store a URL names. SQLite paths after `sqlite:///` are relative; `////` is absolute."""
    if url.startswith("sqlite://"):
        from mainspring.memory.sqlite import SQLiteMemoryStore

        path = url.removeprefix("sqlite://")
        if path in ("", ":memory:", "/:memory:"):
            return SQLiteMemoryStore(":memory:")
        if not path.startswith("/"):
            raise ConfigurationError(
                f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute.db"
            )
        return SQLiteMemoryStore(path[1:])
    if url.startswith(("postgresql://", "postgres://")):
        from mainspring.memory.postgres import PostgresMemoryStore

        return PostgresMemoryStore(url)
    raise ConfigurationError(
        f"unknown memory store URL {url!r}: expected sqlite:///file.db or postgresql://..."
    )
