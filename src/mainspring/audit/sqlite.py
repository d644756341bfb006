"""An audit log in a SQLite table, for deployments that already keep their state in SQLite.

`pos` is the storage order; the chain fields live inside `body`. Tampering through SQL (UPDATE,
DELETE, INSERT) is caught by `verify` just like edits to the JSON-lines file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio

from mainspring.audit.base import GENESIS, AuditEntry, AuditRecord, Unreadable, head_of, seal_all
from mainspring.audit.jsonl import FsyncPolicy
from mainspring.errors import AuditLogError

logger = logging.getLogger("mainspring.audit")

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


def _parse(pos: int, body: Any) -> Any:
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return Unreadable(str(body), f"row pos {pos}")


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            sync = {"always": "FULL", "batch": "NORMAL", "never": "OFF"}[self._fsync]
            db.execute(f"PRAGMA synchronous={sync}")
            db.executescript(_SCHEMA)
            self._seq, self._prev = self._read_head(db)
        except (OSError, sqlite3.Error) as exc:
            raise AuditLogError(f"cannot open audit log {str(self.path)!r}: {exc}") from exc
        self._db = db

    def _read_head(self, db: sqlite3.Connection) -> tuple[int, str]:
        """The last row that is a record; rows after it that are not are named in a warning.

        A transaction never leaves half a row, so such rows were written by hand: they stay
        where they are (verify names them) and the chain continues after the last record.
        """
        bad: list[int] = []
        for pos, text in db.execute("SELECT pos, body FROM audit_log ORDER BY pos DESC"):
            try:
                head = head_of(json.loads(text))
            except (ValueError, TypeError, RecursionError):
                head = None
            if head is not None:
                break
            bad.append(pos)
        else:
            head = None
        if bad:
            logger.warning(
                "audit log %s: row(s) pos %s after the last record are not records; appending "
                "after seq %d (run `mainspring audit verify %s`)",
                self.path,
                ", ".join(map(str, reversed(bad))),
                head[0] if head else 0,
                self.path,
            )
        return head or (0, GENESIS)

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

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record: keep a copy elsewhere to detect tail deletion."""
        async with self._lock:
            if self._db is None:
                await anyio.to_thread.run_sync(self._open)
            return self._seq, self._prev

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
                yield _parse(pos, body)

    async def aclose(self) -> None:
        """Close the database."""
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await anyio.to_thread.run_sync(db.close)


async def iter_sqlite(path: Path) -> AsyncIterator[Any]:
    """Every record of a SQLite audit log, read through a read-only connection (never written)."""

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone()
        if found is None:
            db.close()
            raise AuditLogError(f"{str(path)!r} has no audit_log table: it is not an audit log")
        return db

    try:
        db = await anyio.to_thread.run_sync(connect)
    except sqlite3.Error as exc:
        raise AuditLogError(f"cannot read audit log {str(path)!r}: {exc}") from exc
    try:
        last = 0
        while True:
            try:
                rows = await anyio.to_thread.run_sync(_page, db, last)
            except sqlite3.Error as exc:
                raise AuditLogError(f"cannot read audit log {str(path)!r}: {exc}") from exc
            if not rows:
                return
            for pos, body in rows:
                last = pos
                yield _parse(pos, body)
    finally:
        db.close()


def count_rows(path: Path) -> int | None:
    """How many rows the log holds (for a progress bar), or None if it cannot tell."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return int(db.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        db.close()
