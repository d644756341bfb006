"""The service's tables in PostgreSQL, for replicas that share one database (psycopg 3, async).

The tables live in their own schema; queries keep the SQLite `?` placeholders and are
translated here (none of the service's SQL has a literal question mark).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from mainspring._postgres import connect, load_psycopg
from mainspring.errors import ConfigurationError
from mainspring.server._db import Row

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.api_keys (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, scopes TEXT,
    operator INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS {schema}.sessions (
    token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, csrf TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.runs (
    pos BIGSERIAL UNIQUE, id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT NOT NULL,
    status TEXT NOT NULL, request TEXT NOT NULL, output TEXT, stop_reason TEXT, error TEXT,
    steps INTEGER NOT NULL DEFAULT 0, tool_calls INTEGER NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_tenant ON {schema}.runs (tenant, pos);
ALTER TABLE {schema}.runs ADD COLUMN IF NOT EXISTS owner TEXT;
ALTER TABLE {schema}.runs ADD COLUMN IF NOT EXISTS heartbeat DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {schema}.run_events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS {schema}.approvals (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, run_id TEXT NOT NULL, tool TEXT NOT NULL,
    arguments TEXT NOT NULL, principal TEXT NOT NULL, provenance TEXT, status TEXT NOT NULL,
    reason TEXT, decided_by TEXT, created_at TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL, decided_at TEXT
);
CREATE INDEX IF NOT EXISTS approvals_tenant ON {schema}.approvals (tenant, status);
ALTER TABLE {schema}.approvals ADD COLUMN IF NOT EXISTS consumed INTEGER NOT NULL DEFAULT 0;
SET search_path TO {schema};
"""


class PostgresDatabase:
    """One autocommit connection in schema `schema`, serialised by a lock."""

    position = "pos"

    def __init__(self, url: str, *, schema: str = "mainspring_server") -> None:
        if not schema.isidentifier():
            raise ConfigurationError(f"schema name {schema!r} must be a plain SQL identifier")
        self.url = url
        self.schema = schema
        self._conn: AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await connect(
                self.url, _SCHEMA.format(schema=self.schema), feature="the service on PostgreSQL"
            )
        return self._conn

    async def _run(self, sql: str, params: Sequence[Any], *, rows: bool) -> tuple[int, list[Row]]:
        load_psycopg("the service on PostgreSQL")  # a clear error when the extra is missing
        from psycopg.rows import dict_row

        async with self._lock:
            conn = await self._connection()
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(sql.replace("?", "%s"), tuple(params))
                found: list[Row] = list(await cursor.fetchall()) if rows else []
                return cursor.rowcount, found

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement; the number of rows it changed."""
        return (await self._run(sql, params, rows=False))[0]

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        return (await self._run(sql, params, rows=True))[1]

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        found = await self.fetchall(sql, params)
        return found[0] if found else None

    async def aclose(self) -> None:
        """Close the connection."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()
