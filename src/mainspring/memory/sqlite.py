"""SQLite memory store: one file, WAL, FTS5 (BM25) relevance, named append-only migrations.

sqlite3 is synchronous, so each call runs in a worker thread (`anyio.to_thread.run_sync`) on one
connection guarded by a lock. A write returns only after its transaction commits; in WAL mode a
committed transaction survives the process being killed (`synchronous="FULL"` also survives power
loss, at some cost in write speed).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread

from mainspring.errors import ConfigurationError, MemoryStoreError
from mainspring.memory._sql import kinds_clause, order_limit, query_words, where_clause
from mainspring.memory.base import (
    MIN_IMPORTANCE,
    EntryFilter,
    Hit,
    MemoryEntry,
    MemoryKind,
    Prior,
    StoreStats,
)

T = TypeVar("T")

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_entries",
        """
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            content TEXT NOT NULL,
            importance REAL NOT NULL,
            created_at REAL NOT NULL,
            accessed_at REAL NOT NULL,
            access_count INTEGER NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}',
            expires_at REAL,
            embedding BLOB,
            size INTEGER NOT NULL,
            nstoken TEXT NOT NULL,
            UNIQUE (namespace, id)
        );
        CREATE INDEX entries_by_kind ON entries (namespace, kind, created_at);
        CREATE TABLE counters (
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (namespace, name)
        );
        """,
    ),
    (
        "0002_fts",
        # The namespace is indexed as one opaque token so that FTS5 itself intersects a query
        # with the namespace, instead of ranking every namespace's matches and filtering after.
        """
        CREATE VIRTUAL TABLE entries_fts USING fts5(
            content, nstoken, content='entries', content_rowid='seq',
            tokenize='porter unicode61'
        );
        CREATE TRIGGER entries_ai AFTER INSERT ON entries BEGIN
            INSERT INTO entries_fts (rowid, content, nstoken)
            VALUES (new.seq, new.content, new.nstoken);
        END;
        CREATE TRIGGER entries_ad AFTER DELETE ON entries BEGIN
            INSERT INTO entries_fts (entries_fts, rowid, content, nstoken)
            VALUES ('delete', old.seq, old.content, old.nstoken);
        END;
        CREATE TRIGGER entries_au AFTER UPDATE OF content ON entries BEGIN
            INSERT INTO entries_fts (entries_fts, rowid, content, nstoken)
            VALUES ('delete', old.seq, old.content, old.nstoken);
            INSERT INTO entries_fts (rowid, content, nstoken)
            VALUES (new.seq, new.content, new.nstoken);
        END;
        """,
    ),
)
"""Named, append-only: never edit a released migration, add a new one."""

_COLUMNS = (
    "id, namespace, kind, content, importance, created_at, accessed_at, access_count, "
    "metadata, expires_at, embedding"
)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def namespace_token(namespace: str) -> str:
    """The single FTS token standing for a namespace (hex, so no tokenizer can split it)."""
    return "ns" + hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:24]


def pack_vector(vector: Sequence[float] | None) -> bytes | None:
    """float32 little-endian bytes, the form embeddings are stored in."""
    return None if vector is None else struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(blob: bytes | None) -> tuple[float, ...] | None:
    """The inverse of `pack_vector`."""
    return None if blob is None else struct.unpack(f"<{len(blob) // 4}f", blob)


def _row_to_entry(row: sqlite3.Row | tuple[Any, ...]) -> MemoryEntry:
    return MemoryEntry(
        id=row[0],
        namespace=row[1],
        kind=row[2],
        content=row[3],
        importance=row[4],
        created_at=row[5],
        accessed_at=row[6],
        access_count=row[7],
        metadata=json.loads(row[8]),
        expires_at=row[9],
        embedding=unpack_vector(row[10]),
    )


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded in `_mainspring_migrations`; returns their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _mainspring_migrations "
        "(name TEXT PRIMARY KEY, "
        "applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _mainspring_migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        # executescript commits first; wrap each migration so it applies whole or not at all.
        try:
            record = f"INSERT INTO _mainspring_migrations (name) VALUES ('{name}')"
            conn.executescript(f"BEGIN; {sql}; {record}; COMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


class SQLiteMemoryStore:
    """Memory entries in one SQLite file (or `":memory:"`)."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL") -> None:
        """Open (creating if needed) and migrate the database at `path`."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            apply_migrations(self._conn)
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"cannot open SQLite memory store {self.path!r}: {exc}"
            ) from exc
        self._lock = anyio.Lock()
        self._closed = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise MemoryStoreError("the SQLite memory store is closed")
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(fn, self._conn)
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"SQLite memory store {self.path!r}: {exc}") from exc

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(transaction)

    async def put(self, entries: Sequence[MemoryEntry]) -> None:
        """Insert or replace entries in one transaction."""
        rows = [
            (
                e.id,
                e.namespace,
                e.kind,
                e.content,
                e.importance,
                e.created_at,
                e.accessed_at,
                e.access_count,
                json.dumps(e.metadata),
                e.expires_at,
                pack_vector(e.embedding),
                e.size,
                namespace_token(e.namespace),
            )
            for e in entries
        ]
        sql = (
            f"INSERT OR REPLACE INTO entries ({_COLUMNS}, size, nstoken) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        await self._write(lambda conn: conn.executemany(sql, rows))

    async def find(self, namespace: str, where: EntryFilter) -> list[MemoryEntry]:
        """Entries matching `where`."""
        clause, params = where_clause("sqlite", namespace, where)
        sql = f"SELECT {_COLUMNS} FROM entries WHERE {clause}{order_limit(where)}"
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [_row_to_entry(row) for row in rows]

    async def search(
        self,
        namespace: str,
        text: str,
        *,
        kinds: Sequence[MemoryKind],
        limit: int,
        now: float,
        embedding: Sequence[float] | None = None,
    ) -> list[Hit]:
        """BM25 over the content (FTS5, porter stemming); `embedding` uses cosine similarity."""
        if embedding is not None:
            from mainspring.memory._vectors import cosine_hits

            candidates = await self.find(namespace, EntryFilter(kinds=kinds, now=now))
            return cosine_hits(candidates, embedding, limit)
        words = query_words(text)
        if not words:
            return []
        terms = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        match = f"nstoken:{namespace_token(namespace)} AND content:({terms})"
        kind_sql, kind_params = kinds_clause("sqlite", kinds)
        sql = (
            f"SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))}, "
            "bm25(entries_fts, 1.0, 0.0) AS score "
            "FROM entries_fts JOIN entries e ON e.seq = entries_fts.rowid "
            f"WHERE entries_fts MATCH ? AND e.{kind_sql} "
            "AND (e.expires_at IS NULL OR e.expires_at > ?) "
            "ORDER BY score LIMIT ?"
        )
        params = [match, *kind_params, now, limit]
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        # FTS5's bm25() is negative, more negative meaning more relevant.
        return [Hit(_row_to_entry(row), -row[11]) for row in rows]

    async def ranked(
        self,
        namespace: str,
        prior: Prior,
        *,
        kinds: Sequence[MemoryKind],
        limit: int,
        now: float,
        lowest: bool = False,
    ) -> list[MemoryEntry]:
        """Entries by `log_prior`, computed in SQL."""
        kind_sql, kind_params = kinds_clause("sqlite", kinds)
        direction = "ASC" if lowest else "DESC"
        sql = (
            f"SELECT {_COLUMNS} FROM entries WHERE namespace = ? AND {kind_sql} "
            "AND (expires_at IS NULL OR expires_at > ?) "
            f"ORDER BY ? * ln(max(importance, {MIN_IMPORTANCE})) + ? * accessed_at {direction}, "
            f"seq {direction} LIMIT ?"
        )
        params = [
            namespace,
            *kind_params,
            now,
            prior.importance_weight,
            prior.per_second,
            limit,
        ]
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [_row_to_entry(row) for row in rows]

    async def touch(self, namespace: str, ids: Sequence[str], at: float) -> None:
        """Mark entries accessed at `at`."""
        if not ids:
            return
        sql = (
            "UPDATE entries SET accessed_at = max(accessed_at, ?), access_count = access_count + 1 "
            f"WHERE namespace = ? AND id IN ({', '.join('?' * len(ids))})"
        )
        await self._write(lambda conn: conn.execute(sql, [at, namespace, *ids]))

    async def delete(self, namespace: str, where: EntryFilter) -> int:
        """Delete matching entries."""
        clause, params = where_clause("sqlite", namespace, where)
        if where.limit is not None:
            clause = f"seq IN (SELECT seq FROM entries WHERE {clause}{order_limit(where)})"
        sql = f"DELETE FROM entries WHERE {clause}"
        cursor = await self._write(lambda conn: conn.execute(sql, params))
        return cursor.rowcount

    async def count(self, namespace: str, name: str, n: int = 1) -> None:
        """Add `n` to a persistent counter."""
        sql = (
            "INSERT INTO counters (namespace, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, name) DO UPDATE SET value = value + excluded.value"
        )
        await self._write(lambda conn: conn.execute(sql, (namespace, name, n)))

    async def stats(self, namespace: str) -> StoreStats:
        """Counts and bytes per kind, and the counters."""

        def read(conn: sqlite3.Connection) -> StoreStats:
            rows = conn.execute(
                "SELECT kind, count(*), coalesce(sum(size), 0) FROM entries "
                "WHERE namespace = ? GROUP BY kind",
                (namespace,),
            ).fetchall()
            counters = conn.execute(
                "SELECT name, value FROM counters WHERE namespace = ?", (namespace,)
            ).fetchall()
            return StoreStats(
                namespace=namespace,
                entries={kind: n for kind, n, _ in rows},
                bytes={kind: size for kind, _, size in rows},
                counters=dict(counters),
            )

        return await self._run(read)

    async def namespaces(self) -> list[str]:
        """Every namespace that holds entries (for the CLI and operators)."""
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT DISTINCT namespace FROM entries ORDER BY 1"
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def close(self) -> None:
        """Close the connection."""
        if not self._closed:
            async with self._lock:
                self._closed = True
                self._conn.close()
