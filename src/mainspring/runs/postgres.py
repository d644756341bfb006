"""Run records in PostgreSQL (psycopg 3, async), for many workers sharing one record.

Tables live in their own schema (`mainspring` by default). Appends take a row lock on the run,
so two workers appending to one run cannot interleave sequence numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from mainspring._postgres import connect, load_psycopg
from mainspring.errors import RunNotFoundError, RunStoreError
from mainspring.runs.base import (
    EVENT_ADAPTER,
    INFO_ADAPTER,
    ModelCalled,
    RunInfo,
    RunRecord,
    RunStatus,
    ToolFinished,
    ToolStarted,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

Event = ModelCalled | ToolStarted | ToolFinished

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    info JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON {schema}.runs (created_at);
CREATE TABLE IF NOT EXISTS {schema}.run_events (
    run_id TEXT NOT NULL REFERENCES {schema}.runs (run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    body JSONB NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""


def _psycopg() -> Any:
    return load_psycopg("PostgresRunStore")


class PostgresRunStore:
    """A `RunStore` in PostgreSQL. `url` is a libpq URL such as postgresql://host/db."""

    def __init__(self, url: str, *, schema: str = "mainspring") -> None:
        if not schema.isidentifier():
            raise RunStoreError(f"schema name {schema!r} must be a plain SQL identifier")
        self.url = url
        self.schema = schema
        self._conn: AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            psycopg = _psycopg()
            try:
                conn = await connect(
                    self.url, _SCHEMA.format(schema=self.schema), feature="PostgresRunStore"
                )
            except psycopg.Error as exc:
                raise RunStoreError(f"cannot open the run store at {self.url!r}: {exc}") from exc
            self._conn = conn
        return self._conn

    async def _exec(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        psycopg = _psycopg()
        async with self._lock:
            conn = await self._connection()
            try:
                cursor = await conn.execute(query.format(schema=self.schema), params)
                return await cursor.fetchall() if cursor.description else []
            except psycopg.errors.UniqueViolation:
                raise RunStoreError(f"a run with id {params[0]!r} already exists") from None
            except psycopg.Error as exc:
                raise RunStoreError(f"run store query failed: {exc}") from exc

    async def create(self, info: RunInfo) -> None:
        """Record a new run."""
        await self._exec(
            "INSERT INTO {schema}.runs (run_id, status, created_at, info) VALUES (%s, %s, %s, %s)",
            info.run_id,
            info.status,
            info.created_at,
            INFO_ADAPTER.dump_json(info).decode(),
        )

    async def append(self, run_id: str, events: Sequence[Event]) -> None:
        """Add events in one transaction, after locking the run's row."""
        psycopg = _psycopg()
        bodies = [EVENT_ADAPTER.dump_json(e).decode() for e in events]
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction():
                    found = await (
                        await conn.execute(
                            f"SELECT 1 FROM {self.schema}.runs WHERE run_id = %s FOR UPDATE",
                            (run_id,),
                        )
                    ).fetchone()
                    if found is None:
                        raise RunNotFoundError(f"no run with id {run_id!r}")
                    row = await (
                        await conn.execute(
                            f"SELECT COALESCE(MAX(seq), 0) FROM {self.schema}.run_events "
                            "WHERE run_id = %s",
                            (run_id,),
                        )
                    ).fetchone()
                    start = row[0] if row else 0
                    async with conn.cursor() as cursor:
                        await cursor.executemany(
                            f"INSERT INTO {self.schema}.run_events (run_id, seq, body) "
                            "VALUES (%s, %s, %s)",
                            [(run_id, start + i + 1, b) for i, b in enumerate(bodies)],
                        )
            except psycopg.Error as exc:
                raise RunStoreError(f"cannot append to run {run_id!r}: {exc}") from exc

    async def update(self, info: RunInfo) -> None:
        """Replace the run's info."""
        rows = await self._exec(
            "UPDATE {schema}.runs SET status = %s, info = %s WHERE run_id = %s RETURNING 1",
            info.status,
            INFO_ADAPTER.dump_json(info).decode(),
            info.run_id,
        )
        if not rows:
            raise RunNotFoundError(f"no run with id {info.run_id!r}")

    async def load(self, run_id: str) -> RunRecord:
        """The run and its events."""
        rows = await self._exec("SELECT info::text FROM {schema}.runs WHERE run_id = %s", run_id)
        if not rows:
            raise RunNotFoundError(
                f"no run with id {run_id!r}; `mainspring runs list` shows the recorded runs"
            )
        bodies = await self._exec(
            "SELECT body::text FROM {schema}.run_events WHERE run_id = %s ORDER BY seq", run_id
        )
        events = tuple(EVENT_ADAPTER.validate_json(b[0]) for b in bodies)
        return RunRecord(INFO_ADAPTER.validate_json(rows[0][0]), events)

    async def list(self, *, limit: int = 50, status: RunStatus | None = None) -> list[RunInfo]:
        """Newest runs first."""
        if status is None:
            rows = await self._exec(
                "SELECT info::text FROM {schema}.runs ORDER BY created_at DESC LIMIT %s", limit
            )
        else:
            rows = await self._exec(
                "SELECT info::text FROM {schema}.runs WHERE status = %s "
                "ORDER BY created_at DESC LIMIT %s",
                status,
                limit,
            )
        return [INFO_ADAPTER.validate_json(r[0]) for r in rows]

    async def aclose(self) -> None:
        """Close the connection."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()
