"""SQL shared by the SQLite and PostgreSQL stores: filters and lexical query parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from mainspring.memory.base import EntryFilter, MemoryKind

Dialect = Literal["sqlite", "postgres"]

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(text: str, limit: int = 32) -> list[str]:
    """The distinct words of a query, in order, capped: each becomes one OR-ed search term."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        seen.setdefault(word, None)
        if len(seen) == limit:
            break
    return list(seen)


def _placeholders(dialect: Dialect, n: int) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    return ", ".join([mark] * n)


def kinds_clause(dialect: Dialect, kinds: Sequence[MemoryKind]) -> tuple[str, list[Any]]:
    """`kind IN (...)` for a non-empty list of kinds."""
    return f"kind IN ({_placeholders(dialect, len(kinds))})", list(kinds)


def _metadata_clause(dialect: Dialect, key: str, value: Any, params: list[Any]) -> str:
    if dialect == "sqlite":
        params.extend([f'$."{key}"', int(value) if isinstance(value, bool) else value])
        return "json_extract(metadata, ?) IS ?"
    params.append(json.dumps({key: value}))
    return "metadata @> %s::jsonb"


def where_clause(dialect: Dialect, namespace: str, where: EntryFilter) -> tuple[str, list[Any]]:
    """The WHERE text (without the keyword) and its parameters for an `EntryFilter`."""
    mark = "?" if dialect == "sqlite" else "%s"
    parts = [f"namespace = {mark}"]
    params: list[Any] = [namespace]
    if where.ids is not None:
        if not where.ids:
            return "FALSE" if dialect == "postgres" else "0", []
        parts.append(f"id IN ({_placeholders(dialect, len(where.ids))})")
        params.extend(where.ids)
    if where.kinds:
        sql, more = kinds_clause(dialect, where.kinds)
        parts.append(sql)
        params.extend(more)
    for key, value in (where.metadata or {}).items():
        parts.append(_metadata_clause(dialect, key, value, params))
    for column, op, value in (
        ("created_at", "<", where.created_before),
        ("created_at", ">", where.created_after),
    ):
        if value is not None:
            parts.append(f"{column} {op} {mark}")
            params.append(value)
    if where.expired_by is not None:
        parts.append(f"expires_at <= {mark}")
        params.append(where.expired_by)
    if where.contains is not None:
        function = "instr" if dialect == "sqlite" else "strpos"
        parts.append(f"{function}(content, {mark}) > 0")
        params.append(where.contains)
    if where.now is not None:
        parts.append(f"(expires_at IS NULL OR expires_at > {mark})")
        params.append(where.now)
    return " AND ".join(parts), params


def order_limit(where: EntryFilter) -> str:
    """ORDER BY creation (then insertion) and an optional LIMIT."""
    direction = "DESC" if where.newest_first else "ASC"
    sql = f" ORDER BY created_at {direction}, seq {direction}"
    if where.limit is not None:
        sql += f" LIMIT {int(where.limit)}"
    return sql
