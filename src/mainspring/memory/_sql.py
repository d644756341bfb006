"""The SQL of both memory stores, built in one place.

`SQLITE` and `POSTGRES` differ only in placeholders, a few function names and the full-text
engine. Every statement is returned with its parameters, so a store only runs what it is given. What
"live" means (the namespace, the kinds asked for, not expired) is written once, in `live`, and
used by the lexical search, the semantic search and the ranking alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mainspring.memory._ranking import KEY_COLUMNS
from mainspring.memory.base import EntryFilter, MemoryKind

Dialect = Literal["sqlite", "postgres"]
Statement = tuple[str, list[Any]]
"""SQL text and its parameters, in placeholder order."""

COLUMNS = (
    "id",
    "namespace",
    "kind",
    "content",
    "importance",
    "created_at",
    "accessed_at",
    "access_count",
    "metadata",
    "expires_at",
    "embedding",
)
"""The columns of a `MemoryEntry`, in the order both stores' row readers expect."""

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(text: str, limit: int = 32) -> list[str]:
    """The distinct words of a query, in order, capped: each becomes one OR-ed search term."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        seen.setdefault(word, None)
        if len(seen) == limit:
            break
    return list(seen)


@dataclass(frozen=True, slots=True)
class SQLBuilder:
    """Statements over the `entries` and `counters` tables for one SQL dialect."""

    dialect: Dialect

    @property
    def mark(self) -> str:
        """The parameter placeholder: sqlite3's qmark, psycopg's format style."""
        return "?" if self.dialect == "sqlite" else "%s"

    def marks(self, n: int) -> str:
        """`n` comma-separated placeholders."""
        return ", ".join([self.mark] * n)

    def columns(self, alias: str = "") -> str:
        """The entry columns, optionally qualified by a table alias."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + column for column in COLUMNS)

    def kinds(self, kinds: Sequence[MemoryKind], alias: str = "") -> Statement:
        """`kind IN (...)` for a non-empty list of kinds."""
        prefix = f"{alias}." if alias else ""
        return f"{prefix}kind IN ({self.marks(len(kinds))})", list(kinds)

    def live(
        self, namespace: str, kinds: Sequence[MemoryKind], now: float, alias: str = ""
    ) -> Statement:
        """Entries of `namespace` of one of `kinds` that have not expired at `now`."""
        prefix = f"{alias}." if alias else ""
        kind_sql, kind_params = self.kinds(kinds, alias)
        sql = (
            f"{prefix}namespace = {self.mark} AND {kind_sql} "
            f"AND ({prefix}expires_at IS NULL OR {prefix}expires_at > {self.mark})"
        )
        return sql, [namespace, *kind_params, now]

    def where(self, namespace: str, where: EntryFilter) -> Statement:
        """The WHERE text (without the keyword) and its parameters for an `EntryFilter`."""
        mark = self.mark
        parts = [f"namespace = {mark}"]
        params: list[Any] = [namespace]
        if where.ids is not None:
            if not where.ids:
                return "FALSE" if self.dialect == "postgres" else "0", []
            parts.append(f"id IN ({self.marks(len(where.ids))})")
            params.extend(where.ids)
        if where.kinds:
            sql, more = self.kinds(where.kinds)
            parts.append(sql)
            params.extend(more)
        for key, value in (where.metadata or {}).items():
            parts.append(self._metadata(key, value, params))
        for column, op, value in (
            ("created_at", "<", where.created_before),
            ("created_at", ">", where.created_after),
            ("expires_at", "<=", where.expired_by),
        ):
            if value is not None:
                parts.append(f"{column} {op} {mark}")
                params.append(value)
        if where.contains is not None:
            function = "instr" if self.dialect == "sqlite" else "strpos"
            parts.append(f"{function}(content, {mark}) > 0")
            params.append(where.contains)
        if where.now is not None:
            parts.append(f"(expires_at IS NULL OR expires_at > {mark})")
            params.append(where.now)
        return " AND ".join(parts), params

    def _metadata(self, key: str, value: Any, params: list[Any]) -> str:
        if self.dialect == "sqlite":
            params.extend([f'$."{key}"', int(value) if isinstance(value, bool) else value])
            return "json_extract(metadata, ?) IS ?"
        params.append(json.dumps({key: value}))
        return "metadata @> %s::jsonb"

    @staticmethod
    def order_limit(where: EntryFilter) -> str:
        """ORDER BY creation (then insertion) and an optional LIMIT."""
        direction = "DESC" if where.newest_first else "ASC"
        sql = f" ORDER BY created_at {direction}, seq {direction}"
        if where.limit is not None:
            sql += f" LIMIT {int(where.limit)}"
        return sql

    def insert(self, extra: Sequence[str] = (), *, upsert: bool = False) -> str:
        """INSERT of one entry row (its columns, then `extra`); `upsert` replaces the same id.

        Without `upsert` the caller deletes replaced entries first (SQLite does, so that its
        external-content FTS index hears of the old row).
        """
        names = [*COLUMNS, *extra]
        sql = f"INSERT INTO entries ({', '.join(names)}) VALUES ({self.marks(len(names))})"
        if upsert:
            updates = ", ".join(f"{name} = excluded.{name}" for name in names)
            sql += f" ON CONFLICT (namespace, id) DO UPDATE SET {updates}"
        return sql

    def find(self, namespace: str, where: EntryFilter) -> Statement:
        """The entries matching `where`, in `order_limit`'s order."""
        clause, params = self.where(namespace, where)
        return (
            f"SELECT {self.columns()} FROM entries WHERE {clause}{self.order_limit(where)}",
            params,
        )

    def delete(self, namespace: str, where: EntryFilter) -> Statement:
        """Delete the entries matching `where` (the first `limit` of them in its order)."""
        clause, params = self.where(namespace, where)
        if where.limit is not None:
            clause = f"seq IN (SELECT seq FROM entries WHERE {clause}{self.order_limit(where)})"
        return f"DELETE FROM entries WHERE {clause}", params

    def vectors(self, namespace: str, kinds: Sequence[MemoryKind], now: float) -> Statement:
        """`(id, embedding)` of every live entry that has an embedding (semantic search)."""
        live, params = self.live(namespace, kinds, now)
        return f"SELECT id, embedding FROM entries WHERE {live} AND embedding IS NOT NULL", params

    def rank_keys(
        self,
        namespace: str,
        kinds: Sequence[MemoryKind],
        now: float,
        *,
        column: str,
        descending: bool,
        offset: int,
        count: int,
    ) -> Statement:
        """One chunk of live entries' ranking keys in `column` order (the threshold algorithm)."""
        if column not in ("importance", "accessed_at"):
            raise ValueError(f"cannot rank by {column!r}")
        live, params = self.live(namespace, kinds, now)
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {KEY_COLUMNS} FROM entries WHERE {live} "
            f"ORDER BY {column} {direction} LIMIT {self.mark} OFFSET {self.mark}"
        )
        return sql, [*params, count, offset]

    def lexical(
        self, namespace: str, kinds: Sequence[MemoryKind], now: float, limit: int
    ) -> Statement:
        """Full-text search, best first; the query (an FTS5 MATCH or a tsquery) is parameter 1.

        SQLite ranks with FTS5's bm25 (negative: lower is better) joined on every match;
        PostgreSQL with `ts_rank_cd` over the generated `tsv` column (higher is better).
        """
        if self.dialect == "sqlite":
            live, params = self.live(namespace, kinds, now, alias="e")
            sql = (
                f"SELECT {self.columns('e')}, bm25(entries_fts, 1.0, 0.0) AS score "
                "FROM entries_fts JOIN entries e ON e.seq = entries_fts.rowid "
                f"WHERE entries_fts MATCH ? AND {live} ORDER BY score LIMIT ?"
            )
            return sql, [*params, limit]
        live, params = self.live(namespace, kinds, now)
        sql = (
            f"SELECT {self.columns()}, ts_rank_cd(tsv, q) AS score "
            "FROM entries, CAST(%s AS tsquery) AS q "
            f"WHERE {live} AND tsv @@ q ORDER BY score DESC, seq LIMIT %s"
        )
        return sql, [*params, limit]

    def lexical_top(
        self, namespace: str, kinds: Sequence[MemoryKind], now: float, limit: int, inner: int
    ) -> Statement:
        """SQLite only: rank inside FTS5 alone, keep the best `inner`, then filter those.

        Cheaper than `lexical` (no join per match) whenever the best matches mostly belong to
        the namespace and kinds asked for; the store falls back to `lexical` when they do not.
        The MATCH expression is parameter 1.
        """
        live, params = self.live(namespace, kinds, now, alias="e")
        sql = (
            f"SELECT {self.columns('e')}, f.score FROM (SELECT rowid, "
            "bm25(entries_fts, 1.0, 0.0) AS score FROM entries_fts WHERE entries_fts MATCH ? "
            "ORDER BY score LIMIT ?) AS f "
            f"JOIN entries e ON e.seq = f.rowid WHERE {live} ORDER BY f.score LIMIT ?"
        )
        return sql, [inner, *params, limit]

    def touch(self, namespace: str, ids: Sequence[str], at: float) -> Statement:
        """Record an access at `at` (never moving `accessed_at` back) for `ids`."""
        latest = "max" if self.dialect == "sqlite" else "greatest"
        sql = (
            f"UPDATE entries SET accessed_at = {latest}(accessed_at, {self.mark}), "
            f"access_count = access_count + 1 "
            f"WHERE namespace = {self.mark} AND id IN ({self.marks(len(ids))})"
        )
        return sql, [at, namespace, *ids]

    def add_to_counter(self, namespace: str, name: str, n: int) -> Statement:
        """Add `n` to a persistent counter, creating it at `n`."""
        sql = (
            f"INSERT INTO counters (namespace, name, value) VALUES ({self.marks(3)}) "
            "ON CONFLICT (namespace, name) DO UPDATE SET value = counters.value + excluded.value"
        )
        return sql, [namespace, name, n]

    def kind_sizes(self, namespace: str) -> Statement:
        """`(kind, entries, bytes)` per kind of a namespace."""
        sql = (
            "SELECT kind, count(*), coalesce(sum(size), 0) FROM entries "
            f"WHERE namespace = {self.mark} GROUP BY kind"
        )
        return sql, [namespace]

    def counters(self, namespace: str) -> Statement:
        """`(name, value)` of a namespace's counters."""
        return f"SELECT name, value FROM counters WHERE namespace = {self.mark}", [namespace]

    @staticmethod
    def namespaces() -> Statement:
        """Every namespace that holds entries, sorted."""
        return "SELECT DISTINCT namespace FROM entries ORDER BY 1", []


SQLITE = SQLBuilder("sqlite")
POSTGRES = SQLBuilder("postgres")
