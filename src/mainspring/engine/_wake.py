"""Waking a worker when a run is submitted, instead of waiting for DBOS's next queue poll.

DBOS 3.4 only polls its queues (each poll a few queries and about 6 ms of CPU), so a new run
waits half a poll interval on average, and a short interval costs every idle worker CPU. The
submitter sends a PostgreSQL NOTIFY on the queue's channel after it enqueues; each worker
LISTENs on a connection of its own, in a thread, and claims runs at once with the same DBOS
calls one iteration of DBOS's queue thread makes (pinned to DBOS 3.4 for that reason). DBOS's
own poll stays, slower, as the safety net for a notification lost (the listener reconnecting).
Both claim under the queue's row locks, so no run is claimed twice; while both claim at the
same moment, a worker may briefly run more than its concurrency (DBOS's own count lags the
same way between its scopes).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mainspring._postgres import load_psycopg
from mainspring.errors import MissingExtraError

try:
    from dbos._core import execute_dequeued_workflow
    from dbos._dbos import _get_dbos_instance
    from dbos._utils import GlobalParams, generate_uuid
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the durable engine", "engine") from exc

logger = logging.getLogger("mainspring.engine")

FULL_CHECK_SECONDS = 0.05
"""How often a worker that was full checks for a free slot (and the runs still queued)."""


def channel(queue: str) -> str:
    """The NOTIFY channel of a queue."""
    return f"mainspring:{queue}"


class QueueWaker:
    """A thread that claims the queue's runs as soon as a submitter says there is one."""

    def __init__(self, url: str, queue: str) -> None:
        self.url = url
        self.queue = queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wake-{queue}", daemon=True)
        self._claiming = threading.Lock()
        self._queue: Any = None
        self._full = False

    def start(self) -> None:
        """Listen from now on (call after DBOS is launched)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within half a second)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        psycopg = load_psycopg("the engine's queue waker")
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(
                        psycopg.sql.SQL("LISTEN {}").format(
                            psycopg.sql.Identifier(channel(self.queue))
                        )
                    )
                    self.claim()  # whatever was submitted while no one listened
                    self._listen(conn)
            except Exception as exc:  # the poll covers the gap; try again shortly
                logger.warning("queue waker for %r: %s", self.queue, exc)
                self._stop.wait(1.0)

    def _listen(self, conn: Any) -> None:
        while not self._stop.is_set():
            # A full worker may have left runs queued, which no notification will announce
            # again: it checks for a free slot every 50 ms (no query while none is free).
            wait = FULL_CHECK_SECONDS if self._full else 0.5
            if list(conn.notifies(timeout=wait, stop_after=1)):
                # One claim serves every notification that came meanwhile.
                list(conn.notifies(timeout=0.0, stop_after=10_000))
            elif not self._full:
                continue
            self.claim()

    def claim(self) -> int:
        """Claim and start what the queue holds, up to this worker's free concurrency."""
        with self._claiming:
            if self._queue is None:  # read once: a full worker then skips without a query
                self._queue = _get_dbos_instance()._sys_db.get_queue(self.queue)
            if self._queue is None:
                return 0
            claimed, self._full = _claim(self._queue)
            return claimed


def _claim(queue: Any) -> tuple[int, bool]:
    """(runs claimed, whether the worker is full now)."""
    # One iteration of dbos._queue.queue_worker_thread for a queue without partitions.
    dbos = _get_dbos_instance()
    running = dbos._active_workflows_set.count_for_queue(queue.name)
    limit = queue._worker_concurrency
    if limit is not None and running >= limit:
        return 0, True
    owner_xid = generate_uuid()
    claimed, _ = dbos._sys_db.start_queued_workflows(
        queue,
        GlobalParams.executor_id,
        GlobalParams.app_version,
        None,
        running,
        owner_xid=owner_xid,
    )
    for status in dbos._sys_db.get_workflow_statuses(claimed):
        execute_dequeued_workflow(dbos, status, owner_xid)
    return len(claimed), limit is not None and running + len(claimed) >= limit
