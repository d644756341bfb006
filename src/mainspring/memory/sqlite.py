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
from cachetools import TTLCache

from mainspring.errors import ConfigurationError, MemoryStoreError
from mainspring.memory._ranking import Column, RankKey, top_by_prior
from mainspring.memory._sql import SQLITE, query_words
from mainspring.memory._vectors import most_similar
from mainspring.memory.base import (
    EntryFilter,
    Hit,
    MemoryEntry,
    MemoryKind,
    Prior,
    StoreStats,
    last_of_each,
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
    (
        "0003_bulk_fts_and_ranking_indexes",
        # put() indexes a whole batch with one INSERT ... SELECT, 2-3x faster than a row trigger.
        # The two indexes serve the threshold algorithm in _ranking.py; the vocabulary gives
        # document frequencies, so that near-ubiquitous query words can be left out.
        """
        DROP TRIGGER entries_ai;
        CREATE INDEX entries_by_importance ON entries (namespace, kind, importance);
        CREATE INDEX entries_by_access ON entries (namespace, kind, accessed_at);
        CREATE VIRTUAL TABLE entries_vocab USING fts5vocab(entries_fts, 'row');
        """,
    ),
)
"""Named, append-only: never edit a released migration, add a new one."""

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def namespace_token(namespace: str) -> str:
    """The single FTS token standing for a namespace.

    Digits only, so no tokenizer splits it and the porter stemmer leaves it as it is (the
    vocabulary lookup in `_selective` relies on that).
    """
    digest = hashlib.sha256(namespace.encode("utf-8")).digest()[:10]
    return str(int.from_bytes(digest, "big")).rjust(25, "0")


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
        metadata={} if row[8] == "{}" else json.loads(row[8]),
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

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        max_term_share: float = 0.05,
        min_pruned_docs: int = 1000,
    ) -> None:
        """Open (creating if needed) and migrate the database at `path`.

        Args:
            path: The database file, or `":memory:"`.
            synchronous: SQLite's durability level; `NORMAL` survives process crashes in WAL
                mode, `FULL` also survives power loss.
            max_term_share: Query words found in more than this share of a namespace's entries
                are ignored by `search` (see `_selective`)...
            min_pruned_docs: ...unless they are in at most this many entries.
        """
        self.path = str(path)
        self.max_term_share = max_term_share
        self._document_counts: TTLCache[str, int] = TTLCache(maxsize=100_000, ttl=300)
        self.min_pruned_docs = min_pruned_docs
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            apply_migrations(self._conn)
            # A scratch index with the same tokenizer, to stem query words (see _selective).
            self._conn.executescript(
                "CREATE VIRTUAL TABLE temp.query_terms USING fts5(word, content='', "
                "tokenize='porter unicode61');"
                "CREATE VIRTUAL TABLE temp.query_vocab USING fts5vocab(temp, 'query_terms', "
                "'instance');"
            )
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
        """Insert or replace entries in one transaction (an id given twice: the last one)."""
        entries = last_of_each(entries)
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
        sql = SQLITE.insert(("size", "nstoken"))

        def insert(conn: sqlite3.Connection) -> None:
            (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()
            conn.executemany(
                "DELETE FROM entries WHERE namespace = ? AND id = ?",
                [(e.namespace, e.id) for e in entries],
            )
            conn.executemany(sql, rows)
            conn.execute(
                "INSERT INTO entries_fts (rowid, content, nstoken) "
                "SELECT seq, content, nstoken FROM entries WHERE seq > ?",
                (last,),
            )

        await self._write(insert)

    async def find(self, namespace: str, where: EntryFilter) -> list[MemoryEntry]:
        """Entries matching `where`."""
        sql, params = SQLITE.find(namespace, where)
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
            return await self._semantic(namespace, embedding, kinds=kinds, limit=limit, now=now)
        # First rank inside FTS5 alone and filter the best few (no join per match); only when
        # other namespaces or kinds crowd those out, join every match.
        inner = 4 * limit
        ranked_first, first_params = SQLITE.lexical_top(namespace, kinds, now, limit, inner)
        joined, joined_params = SQLITE.lexical(namespace, kinds, now, limit)
        counted = (
            "SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ? LIMIT ?)"
        )

        def query(conn: sqlite3.Connection) -> list[Any]:
            words = self._selective(conn, namespace, query_words(text))
            if not words:
                return []
            match = "content:(" + " OR ".join('"' + w.replace('"', '""') + '"' for w in words) + ")"
            rows = conn.execute(ranked_first, [match, *first_params]).fetchall()
            if len(rows) < limit and conn.execute(counted, [match, inner]).fetchone()[0] == inner:
                rows = conn.execute(joined, [match, *joined_params]).fetchall()
            return rows

        rows = await self._run(query)
        # FTS5's bm25() is negative, more negative meaning more relevant.
        return [Hit(_row_to_entry(row), -row[11]) for row in rows]

    def _selective(self, conn: sqlite3.Connection, namespace: str, words: list[str]) -> list[str]:
        """The query words worth searching for: present, and not in nearly every entry.

        A word found in more than `max_term_share` of the namespace's entries (and in more than
        `min_pruned_docs`) weighs little in BM25 yet makes FTS5 score most of the namespace, so it
        is left out. Words are stemmed by the index's own tokenizer (a scratch FTS5 table) before
        their document counts are read from the vocabulary (cached for five minutes); the
        namespace token occurs once per entry, so its count is the namespace's size.
        """
        if not words:
            return []
        conn.execute("INSERT INTO temp.query_terms (query_terms) VALUES ('delete-all')")
        conn.executemany(
            "INSERT INTO temp.query_terms (rowid, word) VALUES (?, ?)", list(enumerate(words))
        )
        stems = conn.execute("SELECT doc, term FROM temp.query_vocab").fetchall()
        common = max(
            self.max_term_share * self._documents(conn, namespace_token(namespace)),
            self.min_pruned_docs,
        )
        keep = {i for i, term in stems if 0 < self._documents(conn, term) <= common}
        return [word for i, word in enumerate(words) if i in keep]

    def _documents(self, conn: sqlite3.Connection, term: str) -> int:
        # FTS5 counts a term's documents by walking its posting list (milliseconds for a word in
        # most of 100,000 entries), so counts are cached for a while: pruning is a heuristic and
        # tolerates counts a few minutes old.
        # Only large counts are cached: they are the slow ones, and a stale small count could
        # hide a word that has just been added.
        count = self._document_counts.get(term)
        if count is None:
            row = conn.execute("SELECT doc FROM entries_vocab WHERE term = ?", (term,)).fetchone()
            count = row[0] if row else 0
            if count > self.min_pruned_docs:
                self._document_counts[term] = count
        return count

    async def _semantic(
        self,
        namespace: str,
        embedding: Sequence[float],
        *,
        kinds: Sequence[MemoryKind],
        limit: int,
        now: float,
    ) -> list[Hit]:
        """Cosine similarity against every live vector of the namespace (see `_vectors`)."""
        sql, params = SQLITE.vectors(namespace, kinds, now)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        vectors = [(row[0], bytes(row[1])) for row in rows]
        best = most_similar(vectors, embedding, limit)
        found = {e.id: e for e in await self.find(namespace, EntryFilter(ids=[i for i, _ in best]))}
        return [Hit(found[i], score) for i, score in best if i in found]

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
        """Entries by `log_prior`, via the threshold algorithm over two indexes."""

        async def fetch(column: Column, descending: bool, offset: int, count: int) -> list[RankKey]:
            sql, params = SQLITE.rank_keys(
                namespace,
                kinds,
                now,
                column=column,
                descending=descending,
                offset=offset,
                count=count,
            )
            return [
                RankKey(*row)
                for row in await self._run(lambda conn: conn.execute(sql, params).fetchall())
            ]

        ids = await top_by_prior(fetch, prior, limit, lowest)
        found = {e.id: e for e in await self.find(namespace, EntryFilter(ids=ids))}
        return [found[i] for i in ids if i in found]

    async def touch(self, namespace: str, ids: Sequence[str], at: float) -> None:
        """Mark entries accessed at `at`."""
        if not ids:
            return
        sql, params = SQLITE.touch(namespace, ids, at)
        await self._write(lambda conn: conn.execute(sql, params))

    async def delete(self, namespace: str, where: EntryFilter) -> int:
        """Delete matching entries."""
        sql, params = SQLITE.delete(namespace, where)
        cursor = await self._write(lambda conn: conn.execute(sql, params))
        return cursor.rowcount

    async def count(self, namespace: str, name: str, n: int = 1) -> None:
        """Add `n` to a persistent counter."""
        sql, params = SQLITE.add_to_counter(namespace, name, n)
        await self._write(lambda conn: conn.execute(sql, params))

    async def stats(self, namespace: str) -> StoreStats:
        """Counts and bytes per kind, and the counters."""

        def read(conn: sqlite3.Connection) -> StoreStats:
            rows = conn.execute(*SQLITE.kind_sizes(namespace)).fetchall()
            counters = conn.execute(*SQLITE.counters(namespace)).fetchall()
            return StoreStats(
                namespace=namespace,
                entries={kind: n for kind, n, _ in rows},
                bytes={kind: size for kind, _, size in rows},
                counters=dict(counters),
            )

        return await self._run(read)

    async def namespaces(self) -> list[str]:
        """Every namespace that holds entries (for the CLI and operators)."""
        rows = await self._run(lambda conn: conn.execute(*SQLITE.namespaces()).fetchall())
        return [row[0] for row in rows]

    async def close(self) -> None:
        """Close the connection."""
        if not self._closed:
            async with self._lock:
                self._closed = True
                self._conn.close()
