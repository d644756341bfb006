"""An audit log in PostgreSQL, shared by any number of writer processes.

Writers serialise on one head row (`SELECT ... FOR UPDATE`): each append reads the head, seals
its entries after it, inserts them and moves the head, in one transaction. So many workers build
one unbroken chain, and a committed append is durable (PostgreSQL's own WAL and fsync settings).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from mainspring._postgres import connect, load_psycopg
from mainspring.audit.base import GENESIS, AuditEntry, AuditRecord, Unreadable, seal_all
from mainspring.errors import AuditLogError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.audit_log (
    pos BIGSERIAL PRIMARY KEY,
    seq BIGINT NOT NULL,
    run_id TEXT,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_run ON {schema}.audit_log (run_id);
CREATE TABLE IF NOT EXISTS {schema}.audit_head (
    id INT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO {schema}.audit_head (id, seq, hash) VALUES (1, 0, '{genesis}') ON CONFLICT DO NOTHING;
"""


def _psycopg() -> Any:
    return load_psycopg("PostgresAuditLog")


class PostgresAuditLog:
    """A hash-chained audit log in PostgreSQL tables under `schema`."""

    def __init__(self, url: str, *, schema: str = "mainspring", key: bytes | None = None) -> None:
        if not schema.isidentifier():
            raise AuditLogError(f"schema name {schema!r} must be a plain SQL identifier")
        self.url = url
        self.schema = schema
        self._key = key
        self._conn: AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            psycopg = _psycopg()
            try:
                conn = await connect(
                    self.url,
                    _SCHEMA.format(schema=self.schema, genesis=GENESIS),
                    feature="PostgresAuditLog",
                )
            except psycopg.Error as exc:
                raise AuditLogError(f"cannot open the audit log at {self.url!r}: {exc}") from exc
            self._conn = conn
        return self._conn

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal entries after the shared head and insert them, in one transaction."""
        psycopg = _psycopg()
        s = self.schema
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction():
                    cursor = await conn.execute(
                        f"SELECT seq, hash FROM {s}.audit_head WHERE id = 1 FOR UPDATE"
                    )
                    head = await cursor.fetchone()
                    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
                    records = seal_all(entries, seq, prev, self._key)
                    if records:
                        seq, prev = records[-1].seq, records[-1].hash
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            f"INSERT INTO {s}.audit_log (seq, run_id, name, body) "
                            "VALUES (%s, %s, %s, %s)",
                            [(r.seq, r.entry.run_id, r.entry.name, r.to_json()) for r in records],
                        )
                    await conn.execute(
                        f"UPDATE {s}.audit_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev)
                    )
            except psycopg.Error as exc:
                raise AuditLogError(f"cannot append to the audit log: {exc}") from exc
            return records

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record."""
        async with self._lock:
            conn = await self._connection()
            cursor = await conn.execute(f"SELECT seq, hash FROM {self.schema}.audit_head")
            row = await cursor.fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    async def bodies(self) -> AsyncIterator[Any]:
        """Every record in storage order."""
        last = 0
        while True:
            async with self._lock:
                conn = await self._connection()
                cursor = await conn.execute(
                    f"SELECT pos, body FROM {self.schema}.audit_log WHERE pos > %s "
                    "ORDER BY pos LIMIT 2048",
                    (last,),
                )
                rows = await cursor.fetchall()
            if not rows:
                return
            for pos, body in rows:
                last = pos
                try:
                    yield json.loads(body)
                except (ValueError, RecursionError):
                    yield Unreadable(str(body), f"row pos {pos}")

    async def aclose(self) -> None:
        """Close the connection."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()
