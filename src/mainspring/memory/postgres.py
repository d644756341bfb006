"""PostgreSQL memory store (psycopg 3, async): full-text search, JSONB metadata, one schema.

Every table lives in one schema (default `mainspring`), so several deployments or test runs can
share a database. Relevance is `ts_rank_cd` over a generated `tsvector` with a GIN index.
Embeddings are stored as `real[]` and compared in Python: the pgvector extension is not required
(see docs/memory.md for enabling it at scale).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
from cachetools import TTLCache

from mainspring.errors import ConfigurationError, MemoryStoreError, MissingExtraError
from mainspring.memory._ranking import Column, RankKey, top_by_prior
from mainspring.memory._sql import COLUMNS, POSTGRES, query_words
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

if TYPE_CHECKING:
    from psycopg import AsyncConnection

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_entries",
        """
        CREATE TABLE entries (
            seq BIGSERIAL PRIMARY KEY,
            namespace TEXT NOT NULL,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            content TEXT NOT NULL,
            importance DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            accessed_at DOUBLE PRECISION NOT NULL,
            access_count INTEGER NOT NULL DEFAULT 0,
            metadata JSONB NOT NULL DEFAULT '{}',
            expires_at DOUBLE PRECISION,
            embedding REAL[],
            size INTEGER NOT NULL,
            UNIQUE (namespace, id)
        );
        CREATE INDEX entries_by_kind ON entries (namespace, kind, created_at);
        CREATE TABLE counters (
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            value BIGINT NOT NULL,
            PRIMARY KEY (namespace, name)
        );
        """,
    ),
    (
        "0002_fts",
        """
        ALTER TABLE entries ADD COLUMN tsv tsvector
            GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
        CREATE INDEX entries_fts ON entries USING GIN (tsv);
        """,
    ),
    (
        "0003_ranking_indexes",
        # For the threshold algorithm in _ranking.py: entries in importance and in access order.
        """
        CREATE INDEX entries_by_importance ON entries (namespace, kind, importance);
        CREATE INDEX entries_by_access ON entries (namespace, kind, accessed_at);
        """,
    ),
)
"""Named, append-only: never edit a released migration, add a new one."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _row_to_entry(row: Sequence[Any]) -> MemoryEntry:
    return MemoryEntry(
        id=row[0],
        namespace=row[1],
        kind=row[2],
        content=row[3],
        importance=row[4],
        created_at=row[5],
        accessed_at=row[6],
        access_count=row[7],
        metadata=row[8],
        expires_at=row[9],
        embedding=None if row[10] is None else tuple(row[10]),
    )


_COPY_FROM = 32
"""Batches of at least this many entries go through COPY; smaller ones through INSERTs."""

_PUT_COLUMNS = (*COLUMNS, "size")
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS _mainspring_put (
    id TEXT, namespace TEXT, kind TEXT, content TEXT, importance DOUBLE PRECISION,
    created_at DOUBLE PRECISION, accessed_at DOUBLE PRECISION, access_count INTEGER,
    metadata JSONB, expires_at DOUBLE PRECISION, embedding REAL[], size INTEGER
) ON COMMIT DELETE ROWS;
"""
_FROM_STAGING = (
    f"INSERT INTO entries ({', '.join(_PUT_COLUMNS)}) "
    f"SELECT {', '.join(_PUT_COLUMNS)} FROM _mainspring_put "
    "ON CONFLICT (namespace, id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _PUT_COLUMNS)
)


async def _copy_upsert(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """Upsert a large batch: COPY into a session's staging table, then one INSERT ... SELECT.

    One statement computes every row's tsvector (the generated column) and updates the GIN
    index, instead of one statement per row. The rows' ids must be unique (one INSERT cannot
    update the same row twice): `put` keeps the last of each.
    """
    await cursor.execute(_STAGING)
    async with cursor.copy(f"COPY _mainspring_put ({', '.join(_PUT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
    await cursor.execute(_FROM_STAGING)


class PostgresMemoryStore:
    """Memory entries in PostgreSQL; connects on first use."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "mainspring",
        max_term_share: float = 0.05,
        min_pruned_docs: int = 1000,
    ) -> None:
        """Use the database at `url` (a libpq URL or DSN) and tables in `schema`.

        Args:
            url: A libpq connection URL or DSN.
            schema: The schema holding the tables (created if missing).
            max_term_share: Query words in more than this share of entries are ignored...
            min_pruned_docs: ...unless they are in at most this many entries.
        """
        if not _SCHEMA_NAME.match(schema):
            raise ConfigurationError(
                f"schema {schema!r} must be a plain SQL identifier (letters, digits, _)"
            )
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("the PostgreSQL memory store", "postgres") from exc
        self.url = url
        self.schema = schema
        self.max_term_share = max_term_share
        self.min_pruned_docs = min_pruned_docs
        self._common: TTLCache[str, frozenset[str]] = TTLCache(maxsize=1, ttl=300)
        self._conn: AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()
        self._closed = False

    async def _connection(self) -> AsyncConnection[Any]:
        if self._closed:
            raise MemoryStoreError("the PostgreSQL memory store is closed")
        if self._conn is None or self._conn.closed:
            import psycopg

            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise MemoryStoreError(f"cannot connect to PostgreSQL: {exc}") from exc
            await self._migrate(conn)
            self._conn = conn
        return self._conn

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        schema = f'"{self.schema}"'
        async with conn.transaction():
            # Serialise concurrent first connections: only one of them creates the tables.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(f"SET search_path TO {schema}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS _mainspring_migrations (name TEXT PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cursor = await conn.execute("SELECT name FROM _mainspring_migrations")
            done = {row[0] for row in await cursor.fetchall()}
            for name, sql in MIGRATIONS:
                if name not in done:
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO _mainspring_migrations (name) VALUES (%s)", (name,)
                    )

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        async with self._lock:
            conn = await self._connection()
            try:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall() if cursor.description else []
            except psycopg.Error as exc:
                raise MemoryStoreError(f"PostgreSQL memory store: {exc}") from exc

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        import psycopg

        async with self._lock:
            conn = await self._connection()
            try:
                cursor = await conn.execute(sql, params)
                return cursor.rowcount
            except psycopg.Error as exc:
                raise MemoryStoreError(f"PostgreSQL memory store: {exc}") from exc

    async def put(self, entries: Sequence[MemoryEntry]) -> None:
        """Insert or replace entries in one transaction (an id given twice: the last one).

        Small batches are pipelined INSERTs, large ones one COPY and one INSERT ... SELECT.
        """
        import psycopg
        from psycopg.types.json import Jsonb

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
                Jsonb(e.metadata),
                e.expires_at,
                None if e.embedding is None else list(e.embedding),
                e.size,
            )
            for e in last_of_each(entries)
        ]
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction(), conn.cursor() as cursor:
                    if len(rows) < _COPY_FROM:
                        await cursor.executemany(POSTGRES.insert(("size",), upsert=True), rows)
                    else:
                        await _copy_upsert(cursor, rows)
            except psycopg.Error as exc:
                raise MemoryStoreError(f"PostgreSQL memory store: {exc}") from exc

    async def find(self, namespace: str, where: EntryFilter) -> list[MemoryEntry]:
        """Entries matching `where`."""
        rows = await self._fetch(*POSTGRES.find(namespace, where))
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
        """`ts_rank_cd` full-text relevance; `embedding` uses cosine similarity."""
        if embedding is not None:
            return await self._semantic(namespace, embedding, kinds=kinds, limit=limit, now=now)
        lexemes = await self._selective(query_words(text))
        if not lexemes:
            return []
        sql, params = POSTGRES.lexical(namespace, kinds, now, limit)
        query = " | ".join("'" + lexeme.replace("'", "''") + "'" for lexeme in lexemes)
        rows = await self._fetch(sql, [query, *params])
        return [Hit(_row_to_entry(row), float(row[11])) for row in rows]

    async def _selective(self, words: list[str]) -> list[str]:
        """The query's lexemes (english stemming, stop words dropped), minus near-ubiquitous ones.

        A lexeme that ANALYZE found in more than `max_term_share` of all entries (and in more
        than `min_pruned_docs`) weighs little in the ranking yet makes PostgreSQL rank most of the
        table, so it is left out. The statistics come from `pg_stats` (kept by autovacuum) and
        are cached for five minutes.
        """
        if not words:
            return []
        rows = await self._fetch(
            "SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', w))) "
            "FROM unnest(CAST(%s AS text[])) AS w",
            (words,),
        )
        lexemes = sorted(row[0] for row in rows)
        common = await self._common_lexemes()
        return [lexeme for lexeme in lexemes if lexeme not in common]

    async def _common_lexemes(self) -> frozenset[str]:
        cached = self._common.get("")
        if cached is not None:
            return cached
        rows = await self._fetch(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
            "FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname "
            "WHERE s.schemaname = %s AND s.tablename = 'entries' AND s.attname = 'tsv'",
            (self.schema,),
        )
        common: frozenset[str] = frozenset()
        if rows and rows[0][0] is not None:
            elems, freqs, total = rows[0]
            threshold = max(self.max_term_share, self.min_pruned_docs / max(total, 1.0))
            common = frozenset(e for e, f in zip(elems, freqs, strict=False) if f > threshold)
        self._common[""] = common
        return common

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
        rows = await self._fetch(*POSTGRES.vectors(namespace, kinds, now))
        vectors = [(row[0], row[1]) for row in rows]
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
            sql, params = POSTGRES.rank_keys(
                namespace,
                kinds,
                now,
                column=column,
                descending=descending,
                offset=offset,
                count=count,
            )
            return [RankKey(*row) for row in await self._fetch(sql, params)]

        ids = await top_by_prior(fetch, prior, limit, lowest)
        found = {e.id: e for e in await self.find(namespace, EntryFilter(ids=ids))}
        return [found[i] for i in ids if i in found]

    async def touch(self, namespace: str, ids: Sequence[str], at: float) -> None:
        """Mark entries accessed at `at`."""
        if ids:
            await self._execute(*POSTGRES.touch(namespace, ids, at))

    async def delete(self, namespace: str, where: EntryFilter) -> int:
        """Delete matching entries."""
        return await self._execute(*POSTGRES.delete(namespace, where))

    async def count(self, namespace: str, name: str, n: int = 1) -> None:
        """Add `n` to a persistent counter."""
        await self._execute(*POSTGRES.add_to_counter(namespace, name, n))

    async def stats(self, namespace: str) -> StoreStats:
        """Counts and bytes per kind, and the counters."""
        rows = await self._fetch(*POSTGRES.kind_sizes(namespace))
        counters = await self._fetch(*POSTGRES.counters(namespace))
        return StoreStats(
            namespace=namespace,
            entries={kind: int(n) for kind, n, _ in rows},
            bytes={kind: int(size) for kind, _, size in rows},
            counters={name: int(value) for name, value in counters},
        )

    async def namespaces(self) -> list[str]:
        """Every namespace that holds entries."""
        rows = await self._fetch(*POSTGRES.namespaces())
        return [row[0] for row in rows]

    async def analyze(self) -> None:
        """Refresh the statistics search pruning reads (autovacuum also does it on its own)."""
        await self._execute("ANALYZE entries")
        self._common.clear()

    async def drop_schema(self) -> None:
        """Drop the whole schema and everything in it (tests and teardown)."""
        await self._execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    async def close(self) -> None:
        """Close the connection."""
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                await self._conn.close()
