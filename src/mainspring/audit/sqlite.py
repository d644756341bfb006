"""An audit log in a SQLite table, for deployments that already keep their state in SQLite.

`pos` is the storage order; the chain fields live inside `body`. Tampering through SQL (UPDATE,
DELETE, INSERT) is caught by `verify` just like edits to the JSON-lines file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio

from mainspring.audit.base import GENESIS, AuditEntry, AuditRecord, seal_all
from mainspring.audit.jsonl import FsyncPolicy
from mainspring.errors import AuditLogError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    run_id TEXT,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_run ON audit_log (run_id);
"""


def _page(db: sqlite3.Connection, after: int) -> list[tuple[int, str]]:
    query = "SELECT pos, body FROM audit_log WHERE pos > ? ORDER BY pos LIMIT 2048"
    return db.execute(query, (after,)).fetchall()


class SqliteAuditLog:
    """A hash-chained audit log in SQLite (WAL). `fsync="always"` sets synchronous=FULL."""

    def __init__(
        self, path: str | Path, *, key: bytes | None = None, fsync: FsyncPolicy = "batch"
    ) -> None:
        self.path = Path(path)
        self._key = key
        self._fsync = fsync
        self._lock = anyio.Lock()
        self._db: sqlite3.Connection | None = None
        self._seq = 0
        self._prev = GENESIS

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        sync = {"always": "FULL", "batch": "NORMAL", "never": "OFF"}[self._fsync]
        db.execute(f"PRAGMA synchronous={sync}")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT body FROM audit_log ORDER BY pos DESC LIMIT 1").fetchone()
        if row is not None:
            try:
                body = json.loads(row[0])
                self._seq, self._prev = int(body["seq"]), str(body["hash"])
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditLogError(
                    f"the last record in {str(self.path)!r} is unreadable ({exc}); "
                    "verify the log before appending to it"
                ) from None
        self._db = db

    def _insert(self, records: list[AuditRecord]) -> None:
        db = self._db
        assert db is not None  # opened under the lock before any insert
        rows = [(r.seq, r.entry.run_id, r.entry.name, r.to_json()) for r in records]
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO audit_log (seq, run_id, name, body) VALUES (?,?,?,?)", rows)

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal and insert entries in one transaction."""
        async with self._lock:
            if self._db is None:
                await anyio.to_thread.run_sync(self._open)
            records = seal_all(entries, self._seq, self._prev, self._key)
            try:
                await anyio.to_thread.run_sync(self._insert, records)
            except sqlite3.Error as exc:
                raise AuditLogError(f"cannot write audit log {str(self.path)!r}: {exc}") from exc
            if records:
                self._seq, self._prev = records[-1].seq, records[-1].hash
            return records

    async def bodies(self) -> AsyncIterator[Any]:
        """Every record in storage order."""
        async with self._lock:
            if self._db is None:
                await anyio.to_thread.run_sync(self._open)
        db = self._db
        assert db is not None
        last = 0
        while True:
            rows = await anyio.to_thread.run_sync(_page, db, last)
            if not rows:
                return
            for pos, body in rows:
                last = pos
                try:
                    yield json.loads(body)
                except ValueError:
                    yield body

    async def aclose(self) -> None:
        """Close the database."""
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await anyio.to_thread.run_sync(db.close)
