"""Run records in PostgreSQL (psycopg 3, async), for many workers sharing one record.

Tables live in their own schema (`mainspring` by default). Appends take a row lock on the run,
so two workers appending to one run cannot interleave sequence numbers.

One writer task per store (`mainspring.runs._pg_writer`) owns the connection: the writes every
run queued since its last commit go in one transaction (a savepoint each), so concurrent runs
share commits instead of taking turns behind a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mainspring._postgres import connect, load_psycopg
from mainspring.errors import RunNotFoundError, RunStoreError
from mainspring.runs._pg_writer import Job, PgWriter
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
        self._writer = PgWriter(self._connection, _own_error, url)

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

    async def _write(self, job: Job) -> Any:
        return await self._writer.submit(job, write=True)

    async def _rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        async def read(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query.format(schema=self.schema), params)
            return await cursor.fetchall() if cursor.description else []

        rows: list[tuple[Any, ...]] = await self._writer.submit(read, write=False)
        return rows

    async def create(self, info: RunInfo) -> None:
        """Record a new run."""
        psycopg = _psycopg()
        row = (info.run_id, info.status, info.created_at, INFO_ADAPTER.dump_json(info).decode())

        async def create(conn: AsyncConnection[Any]) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO {self.schema}.runs (run_id, status, created_at, info) "
                    "VALUES (%s, %s, %s, %s)",
                    row,
                )
            except psycopg.errors.UniqueViolation:
                raise RunStoreError(f"a run with id {info.run_id!r} already exists") from None

        await self._write(create)

    async def append(self, run_id: str, events: Sequence[Event]) -> None:
        """Add events in one transaction, after locking the run's row."""
        bodies = [EVENT_ADAPTER.dump_json(e).decode() for e in events]

        async def append(conn: AsyncConnection[Any]) -> None:
            found = await (
                await conn.execute(
                    f"SELECT 1 FROM {self.schema}.runs WHERE run_id = %s FOR UPDATE", (run_id,)
                )
            ).fetchone()
            if found is None:
                raise RunNotFoundError(f"no run with id {run_id!r}")
            row = await (
                await conn.execute(
                    f"SELECT COALESCE(MAX(seq), 0) FROM {self.schema}.run_events WHERE run_id = %s",
                    (run_id,),
                )
            ).fetchone()
            start = row[0] if row else 0
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO {self.schema}.run_events (run_id, seq, body) VALUES (%s, %s, %s)",
                    [(run_id, start + i + 1, b) for i, b in enumerate(bodies)],
                )

        await self._write(append)

    async def update(self, info: RunInfo) -> None:
        """Replace the run's info."""
        row = (info.status, INFO_ADAPTER.dump_json(info).decode(), info.run_id)

        async def update(conn: AsyncConnection[Any]) -> None:
            cursor = await conn.execute(
                f"UPDATE {self.schema}.runs SET status = %s, info = %s WHERE run_id = %s", row
            )
            if cursor.rowcount == 0:
                raise RunNotFoundError(f"no run with id {info.run_id!r}")

        await self._write(update)

    async def load(self, run_id: str) -> RunRecord:
        """The run and its events."""
        rows = await self._rows("SELECT info::text FROM {schema}.runs WHERE run_id = %s", run_id)
        if not rows:
            raise RunNotFoundError(
                f"no run with id {run_id!r}; `mainspring runs list` shows the recorded runs"
            )
        bodies = await self._rows(
            "SELECT body::text FROM {schema}.run_events WHERE run_id = %s ORDER BY seq", run_id
        )
        events = tuple(EVENT_ADAPTER.validate_json(b[0]) for b in bodies)
        return RunRecord(INFO_ADAPTER.validate_json(rows[0][0]), events)

    async def list(self, *, limit: int = 50, status: RunStatus | None = None) -> list[RunInfo]:
        """Newest runs first."""
        if status is None:
            rows = await self._rows(
                "SELECT info::text FROM {schema}.runs ORDER BY created_at DESC LIMIT %s", limit
            )
        else:
            rows = await self._rows(
                "SELECT info::text FROM {schema}.runs WHERE status = %s "
                "ORDER BY created_at DESC LIMIT %s",
                status,
                limit,
            )
        return [INFO_ADAPTER.validate_json(r[0]) for r in rows]

    async def aclose(self) -> None:
        """Commit every queued write, then close the connection."""
        await self._writer.aclose()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


def _own_error(exc: BaseException) -> BaseException | None:
    """One write's own fault (an unknown run, a duplicate id), or None: the batch failed."""
    return exc if isinstance(exc, RunStoreError) else None
