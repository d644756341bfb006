"""Executor leases in PostgreSQL: who is alive, and whose runs may be recovered.

DBOS recovers a workflow only when told whose it was, and a live worker does not take over a
dead worker's workflows by itself. Resuming a workflow whose executor is still alive runs its
work twice, so recovery must touch only executors known to be dead. Each worker renews a lease
(a row with its last heartbeat); a worker that finds a lease expired recovers that executor's
pending workflows. DBOS's recovery re-enqueues only workflows still owned by the dead executor
and its queue hands each to exactly one worker, so two workers recovering the same executor at
once is harmless: the second finds nothing left.

Leases are renewed from a thread of their own with its own connection (`Worker` runs it), so a
busy event loop full of runs never delays a heartbeat into a false death.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mainspring._postgres import load_psycopg
from mainspring.errors import EngineError

T = TypeVar("T")

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.executors (
    executor_id   text PRIMARY KEY,
    heartbeat_at  timestamptz NOT NULL,
    lease_seconds double precision NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now()
);
"""

_SETUP_LOCK = 7346029112
"""Advisory lock held while creating the table (concurrent CREATE IF NOT EXISTS races)."""


class ExecutorLeases:
    """Heartbeats and expiry of worker leases, in the engine's PostgreSQL database.

    Blocking (psycopg's sync connection): call it from the lease thread, not an event loop.

    Args:
        url: libpq URL of the database (the DBOS system database is fine).
        lease_seconds: how long a heartbeat keeps an executor alive.
        schema: where the `executors` table lives.
    """

    def __init__(self, url: str, *, lease_seconds: float, schema: str = "mainspring") -> None:
        if not schema.isidentifier():
            raise EngineError(f"schema name {schema!r} must be a plain SQL identifier")
        if lease_seconds <= 0:
            raise EngineError(f"lease_seconds must be positive, got {lease_seconds}")
        self.url = url
        self.lease_seconds = lease_seconds
        self.schema = schema
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            psycopg = load_psycopg("the engine's executor leases")
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            with conn.transaction():
                conn.execute(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK})")
                conn.execute(_SCHEMA.format(schema=self.schema))
            self._conn = conn
        return self._conn

    def _guarded(self, body: Callable[[Any], T]) -> T:
        psycopg = load_psycopg("the engine's executor leases")
        try:
            return body(self._connection())
        except psycopg.Error as exc:
            if self._conn is not None and self._conn.broken:
                self._conn = None
            raise EngineError(f"executor leases at {self.url!r}: {exc}") from exc

    def _locked(self, executor_id: str, body: Callable[[Any], T]) -> T:
        # A transaction-scoped advisory lock per executor id: held for `body`, released at
        # commit or when the connection dies (a killed worker never leaves it held).
        def run(conn: Any) -> T:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mainspring:{executor_id}",)
                )
                return body(conn)

        return self._guarded(run)

    def renew(self, executor_id: str) -> None:
        """Record a heartbeat: `executor_id` is alive for another `lease_seconds`.

        Taken under the executor's lock, so a worker restarting with the id of a dead one waits
        for a peer that is recovering that id: DBOS tells workflows apart by executor id only,
        and a recovery still running once the id is alive again would re-queue the new
        process's runs while it runs them.
        """
        sql = (
            f"INSERT INTO {self.schema}.executors (executor_id, heartbeat_at, lease_seconds) "
            "VALUES (%s, now(), %s) ON CONFLICT (executor_id) DO UPDATE "
            "SET heartbeat_at = now(), lease_seconds = EXCLUDED.lease_seconds"
        )
        self._locked(executor_id, lambda c: c.execute(sql, (executor_id, self.lease_seconds)))

    def expired(self, *, excluding: str) -> list[str]:
        """Executors whose lease ran out (dead, or too stalled to be trusted with their runs)."""
        sql = (
            f"SELECT executor_id FROM {self.schema}.executors WHERE executor_id <> %s "
            "AND heartbeat_at + lease_seconds * interval '1 second' < now() "
            "ORDER BY heartbeat_at"
        )
        rows = self._guarded(lambda c: c.execute(sql, (excluding,)).fetchall())
        return [str(row[0]) for row in rows]

    def recover(self, executor_id: str, recover: Callable[[], int]) -> int | None:
        """Run `recover` for a dead executor under its lock, if its lease is still expired.

        Returns what `recover` returned, or None when the executor came back (or another
        worker recovered and forgot it) in the meantime.
        """
        check = (
            f"SELECT 1 FROM {self.schema}.executors WHERE executor_id = %s "
            "AND heartbeat_at + lease_seconds * interval '1 second' < now()"
        )
        forget = f"DELETE FROM {self.schema}.executors WHERE executor_id = %s"

        def body(conn: Any) -> int | None:
            if conn.execute(check, (executor_id,)).fetchone() is None:
                return None
            count = recover()
            conn.execute(forget, (executor_id,))
            return count

        return self._locked(executor_id, body)

    def release(self, executor_id: str) -> None:
        """A clean shutdown: the executor's lease ends now (it has no runs in flight)."""
        sql = f"DELETE FROM {self.schema}.executors WHERE executor_id = %s"
        self._guarded(lambda c: c.execute(sql, (executor_id,)))

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
