"""PostgreSQL plumbing shared by the run store and the audit log (psycopg 3, optional)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mainspring.errors import MissingExtraError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_SETUP_LOCK = 7346029111
"""Advisory lock id held while creating schemas (any fixed number shared by all writers)."""


def load_psycopg(feature: str) -> Any:
    """The psycopg module, or `MissingExtraError` naming the `postgres` extra."""
    try:
        import psycopg
    except ImportError as exc:
        raise MissingExtraError(feature, "postgres") from exc
    return psycopg


async def connect(url: str, setup_sql: str, *, feature: str) -> AsyncConnection[Any]:
    """An autocommit connection with `setup_sql` (idempotent DDL) applied; psycopg errors pass.

    Concurrent `CREATE ... IF NOT EXISTS` races in PostgreSQL (a unique violation in the
    catalog), so setup runs under an advisory lock shared by every process starting together.
    """
    psycopg = load_psycopg(feature)
    conn: AsyncConnection[Any] = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK})")
        await conn.execute(setup_sql)
    return conn
