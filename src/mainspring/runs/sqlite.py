"""Run records in SQLite: the embedded default, one file under the data directory.

WAL mode with `synchronous=NORMAL` survives a killed process (every committed transaction is in
the WAL); pass `durable=True` for `synchronous=FULL`, which also survives power loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

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


class SqliteRunStore:
    """A `RunStore` in one SQLite file. Safe to share between processes (SQLite locks)."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        self._durable = durable
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(fn, *args)
            except sqlite3.Error as exc:
                raise RunStoreError(f"run store {str(self.path)!r}: {exc}") from exc

    def _create(self, info: RunInfo) -> None:
        db = self._connect()
        try:
            db.execute(
                "INSERT INTO runs (run_id, status, created_at, info) VALUES (?, ?, ?, ?)",
                (info.run_id, info.status, info.created_at, INFO_ADAPTER.dump_json(info).decode()),
            )
        except sqlite3.IntegrityError:
            raise RunStoreError(f"a run with id {info.run_id!r} already exists") from None

    async def create(self, info: RunInfo) -> None:
        """Record a new run."""
        await self._run(self._create, info)

    def _append(self, run_id: str, events: Sequence[Event]) -> None:
        db = self._connect()
        with db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?", (run_id,)
            ).fetchone()
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise RunNotFoundError(f"no run with id {run_id!r}")
            rows = [
                (run_id, row[0] + i + 1, EVENT_ADAPTER.dump_json(e).decode())
                for i, e in enumerate(events)
            ]
            db.executemany("INSERT INTO run_events (run_id, seq, body) VALUES (?, ?, ?)", rows)

    async def append(self, run_id: str, events: Sequence[Event]) -> None:
        """Add events in one transaction."""
        await self._run(self._append, run_id, events)

    def _update(self, info: RunInfo) -> None:
        db = self._connect()
        cursor = db.execute(
            "UPDATE runs SET status = ?, info = ? WHERE run_id = ?",
            (info.status, INFO_ADAPTER.dump_json(info).decode(), info.run_id),
        )
        if cursor.rowcount == 0:
            raise RunNotFoundError(f"no run with id {info.run_id!r}")

    async def update(self, info: RunInfo) -> None:
        """Replace the run's info."""
        await self._run(self._update, info)

    def _load(self, run_id: str) -> RunRecord:
        db = self._connect()
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

    async def load(self, run_id: str) -> RunRecord:
        """The run and its events."""
        record: RunRecord = await self._run(self._load, run_id)
        return record

    def _list(self, limit: int, status: RunStatus | None) -> list[RunInfo]:
        db = self._connect()
        query = "SELECT info FROM runs"
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        rows = db.execute(query, (*args, limit)).fetchall()
        return [INFO_ADAPTER.validate_json(r[0]) for r in rows]

    async def list(self, *, limit: int = 50, status: RunStatus | None = None) -> list[RunInfo]:
        """Newest runs first."""
        result: list[RunInfo] = await self._run(self._list, limit, status)
        return result

    async def aclose(self) -> None:
        """Close the database."""
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await anyio.to_thread.run_sync(db.close)
