"""Run records in SQLite: the embedded default, one file under the data directory.

WAL mode with `synchronous=NORMAL` survives a killed process (every committed transaction is in
the WAL); pass `durable=True` for `synchronous=FULL`, which also survives power loss.

Writes go through the process's writer thread (`mainspring._writer`): the writes every run queued
since the last commit are stored in ONE transaction, each in its own savepoint, so a write that
fails on its own (an unknown run, a duplicate id) fails only its caller, and a transaction that
fails as a whole (the disk, a lock held past the timeout) fails every caller of that batch and
stores none of it. Nothing serialises the runs themselves: they only wait for their own commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mainspring._writer import GroupWriter
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    info TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""

Event = ModelCalled | ToolStarted | ToolFinished

# One statement per event: the next sequence number and the run's existence are looked up by
# SQLite inside the insert, so a write makes one round trip instead of three (each insert sees
# the ones before it in the batch, so sequence numbers stay consecutive).
_APPEND = """
INSERT INTO run_events (run_id, seq, body)
SELECT ?1, COALESCE((SELECT MAX(seq) FROM run_events WHERE run_id = ?1), 0) + 1, ?2
WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
"""
_EXISTS = "SELECT 1 FROM runs WHERE run_id = ?"


Write = Callable[[sqlite3.Connection], Any]
"""One caller's write: runs inside the batch's transaction, in its own savepoint."""


class SqliteRunStore:
    """A `RunStore` in one SQLite file. Safe to share between processes (SQLite locks).

    Args:
        path: the database file (created with its directory).
        durable: `synchronous=FULL` (survives power loss) instead of NORMAL (a killed process).
        timeout: seconds to wait for another process's write lock before a batch fails.
    """

    def __init__(self, path: str | Path, *, durable: bool = False, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._durable = durable
        self._timeout = timeout
        self._db: sqlite3.Connection | None = None
        self._writer: GroupWriter[Write] = GroupWriter(
            f"mainspring-runs:{self.path.name}", self._commit, self._batch_failed
        )

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=self._timeout
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _commit(self, writes: Sequence[Write]) -> list[Any]:
        """The writer thread's batch: one transaction, a savepoint per write (if several)."""
        db = self._connect()
        outcomes: list[Any] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            if len(writes) == 1:  # alone in its transaction: its failure rolls back only itself
                try:
                    outcomes.append(writes[0](db))
                except (RunStoreError, sqlite3.IntegrityError) as exc:
                    db.execute("ROLLBACK")
                    return [self._error(exc)]
            else:
                outcomes = [self._in_savepoint(db, write) for write in writes]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcomes

    def _in_savepoint(self, db: sqlite3.Connection, write: Write) -> Any:
        db.execute("SAVEPOINT write")
        try:
            outcome = write(db)
        except (RunStoreError, sqlite3.IntegrityError) as exc:  # this write's own fault
            db.execute("ROLLBACK TO write")
            outcome = self._error(exc)
        db.execute("RELEASE write")
        return outcome

    def _error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, sqlite3.Error):
            return RunStoreError(f"run store {str(self.path)!r}: {exc}")
        return exc

    def _batch_failed(self, exc: BaseException, count: int) -> BaseException:
        hint = " (a full disk, another process holding the lock)"
        return RunStoreError.batch_failed(str(self.path), exc, count, hint)

    async def _write(self, write: Write) -> Any:
        return await self._writer.write(write)

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def read() -> Any:
            try:
                return fn(self._connect())
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

        return await self._writer.call(read)

    async def create(self, info: RunInfo) -> None:
        """Record a new run."""
        row = (info.run_id, info.status, info.created_at, INFO_ADAPTER.dump_json(info).decode())

        def create(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO runs (run_id, status, created_at, info) VALUES (?, ?, ?, ?)", row
                )
            except sqlite3.IntegrityError:
                raise RunStoreError(f"a run with id {info.run_id!r} already exists") from None

        await self._write(create)

    async def append(self, run_id: str, events: Sequence[Event]) -> None:
        """Add events in one transaction (shared with other runs' writes of the moment)."""
        await self.append_soon(run_id, events)

    def append_soon(self, run_id: str, events: Sequence[Event]) -> asyncio.Future[None]:
        """Queue `append` now, without waiting: the future completes once the events are stored.

        The journal queues a tool's result this way and waits for it before the next model call.
        """
        bodies = [EVENT_ADAPTER.dump_json(e).decode() for e in events]

        def append(db: sqlite3.Connection) -> None:
            if bodies:
                cursor = db.executemany(_APPEND, [(run_id, body) for body in bodies])
                missing = cursor.rowcount < len(bodies)  # nothing inserted: no such run
            else:
                missing = db.execute(_EXISTS, (run_id,)).fetchone() is None
            if missing:
                raise RunNotFoundError(f"no run with id {run_id!r}")

        return self._writer.write(append)

    async def update(self, info: RunInfo) -> None:
        """Replace the run's info."""
        row = (info.status, INFO_ADAPTER.dump_json(info).decode(), info.run_id)

        def update(db: sqlite3.Connection) -> None:
            cursor = db.execute("UPDATE runs SET status = ?, info = ? WHERE run_id = ?", row)
            if cursor.rowcount == 0:
                raise RunNotFoundError(f"no run with id {info.run_id!r}")

        await self._write(update)

    async def load(self, run_id: str) -> RunRecord:
        """The run and its events."""
        record: RunRecord = await self._read(lambda db: _load(db, run_id))
        return record

    async def list(self, *, limit: int = 50, status: RunStatus | None = None) -> list[RunInfo]:
        """Newest runs first."""
        result: list[RunInfo] = await self._read(lambda db: _list(db, limit, status))
        return result

    async def aclose(self) -> None:
        """Commit every queued write, then close the database (it reopens on the next use)."""
        await self._writer.aclose(self._close)

    def _close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()


def _load(db: sqlite3.Connection, run_id: str) -> RunRecord:
    row = db.execute("SELECT info FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFoundError(
            f"no run with id {run_id!r}; `mainspring runs list` shows the recorded runs"
        )
    bodies = db.execute(
        "SELECT body FROM run_events WHERE run_id = ? ORDER BY seq", (run_id,)
    ).fetchall()
    events = tuple(EVENT_ADAPTER.validate_json(b[0]) for b in bodies)
    return RunRecord(INFO_ADAPTER.validate_json(row[0]), events)


def _list(db: sqlite3.Connection, limit: int, status: RunStatus | None) -> list[RunInfo]:
    query = "SELECT info FROM runs"
    args: tuple[Any, ...] = ()
    if status is not None:
        query += " WHERE status = ?"
        args = (status,)
    query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
    rows = db.execute(query, (*args, limit)).fetchall()
    return [INFO_ADAPTER.validate_json(r[0]) for r in rows]
