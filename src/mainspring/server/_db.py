"""The service's own tables: the `ServiceDatabase` protocol and its SQLite implementation.

SQLite (one file, WAL, reached through a thread) is the default; `_postgres.PostgresDatabase`
serves several replicas. Queries are written once with `?` placeholders. Every query that reads
tenant data takes the tenant as a parameter.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio

_T = TypeVar("_T")
Row = Mapping[str, Any]
"""A result row, by column name."""


class ServiceDatabase(Protocol):
    """What the service asks of its database."""

    position: str
    """The column that orders runs by insertion (never ties, unlike timestamps)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement; the number of rows it changed."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def aclose(self) -> None:
        """Release the connection."""
        ...


def _as_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


# Named, append-only migrations: a deployed database is only ever moved forward.
_MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            scopes TEXT,
            operator INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            csrf TEXT NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            key_id TEXT NOT NULL,
            status TEXT NOT NULL,
            request TEXT NOT NULL,
            output TEXT,
            stop_reason TEXT,
            error TEXT,
            steps INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX runs_tenant ON runs (tenant, created_at);
        CREATE TABLE run_events (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        );
        CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            run_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            principal TEXT NOT NULL,
            provenance TEXT,
            status TEXT NOT NULL,
            reason TEXT,
            decided_by TEXT,
            created_at TEXT NOT NULL,
            expires_at REAL NOT NULL,
            decided_at TEXT
        );
        CREATE INDEX approvals_tenant ON approvals (tenant, status);
        """,
    ),
    (
        "0002_run_leases",
        """
        ALTER TABLE runs ADD COLUMN owner TEXT;
        ALTER TABLE runs ADD COLUMN heartbeat REAL NOT NULL DEFAULT 0;
        ALTER TABLE approvals ADD COLUMN consumed INTEGER NOT NULL DEFAULT 0
        """,
    ),
)


class Database:
    """One SQLite connection shared by the service, serialised by a lock, run in a thread."""

    position = "rowid"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Several processes share the file (`mainspring keys create` while the server runs).
        self._db.execute("PRAGMA busy_timeout=5000")
        self._lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS _server_migrations (name TEXT PRIMARY KEY)")
        done = {r[0] for r in db.execute("SELECT name FROM _server_migrations")}
        for name, script in _MIGRATIONS:
            if name in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO _server_migrations (name) VALUES (?)", (name,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def run_sync(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the connection, holding the lock (for callers outside an event loop)."""
        with self._lock:
            return work(self._db)

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the connection in a worker thread."""
        return await anyio.to_thread.run_sync(self.run_sync, work)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement; returns the number of rows changed."""
        return await self.run(lambda db: db.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query, by column name."""

        def work(db: sqlite3.Connection) -> list[Row]:
            cursor = db.execute(sql, params)
            cursor.row_factory = _as_dict
            rows: list[Row] = cursor.fetchall()
            return rows

        return await self.run(work)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    async def aclose(self) -> None:
        """Close the connection."""
        self.close()
