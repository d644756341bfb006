"""`Worker`: takes runs from the engine's queue, renews its lease, recovers dead workers' runs.

One worker per process (DBOS is a process-wide singleton). Start as many processes, on as many
hosts, as the load needs: they share the PostgreSQL database and the queue. A worker that dies
(SIGKILL, a lost host) stops renewing its lease; after `lease_seconds` another worker re-queues
its pending runs, which continue from their journals (`engine/workflow.py`). Restarting a worker
with the same `executor_id` recovers its runs at once.

DBOS runs async workflows on the event loop that was running when `DBOS.launch()` was called
(else on a loop of its own, in a thread). The worker launches DBOS on its own loop, so
everything opened there first (the `session`: MCP sessions, database connections) is usable
from every run: an MCP session is bound to the loop that opened it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from functools import partial

import anyio

from mainspring.agent import Agent
from mainspring.engine._wake import QueueWaker
from mainspring.engine.base import EngineSettings, new_executor_id
from mainspring.engine.leases import ExecutorLeases
from mainspring.engine.workflow import install_agent
from mainspring.errors import EngineError, MissingExtraError

try:
    from dbos import DBOS
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the durable engine", "engine") from exc

logger = logging.getLogger("mainspring.engine")


class Worker:
    """Runs the queue's runs with `agent` until `stop()` (or cancellation).

    Args:
        settings: the engine's database, queue, concurrency and lease.
        agent: what each run runs; its `run_store` must be shared by all workers (PostgreSQL).
            None for a worker that runs only other workflows (the service's).
        session: entered on the worker's event loop before the first run and left after the
            last: open MCP toolsets and connections here, where the runs will use them.
    """

    def __init__(
        self,
        settings: EngineSettings,
        agent: Agent | None = None,
        *,
        session: Callable[[], AbstractAsyncContextManager[object]] | None = None,
    ) -> None:
        self.settings = settings
        self.agent = agent
        self.session = session or nullcontext
        self.executor_id = settings.executor_id or new_executor_id()
        self.leases = (
            ExecutorLeases(settings.url, lease_seconds=settings.lease_seconds)
            if settings.shared
            else None
        )
        self._stopped = anyio.Event()
        self._lease_stop = threading.Event()
        self.recovered: list[str] = []
        """Executors whose runs this worker re-queued (for logs and tests)."""

    def stop(self) -> None:
        """Ask `run()` to return after the runs in flight finish."""
        self._stopped.set()

    async def run(self) -> None:
        """Launch DBOS, take runs, keep the lease, recover dead executors; until stopped."""
        if self.agent is not None:
            install_agent(self.agent)
        async with self.session():
            await self._serve()

    async def _serve(self) -> None:
        lease_thread = None
        waker = QueueWaker(self.settings.url, self.settings.queue) if self.settings.shared else None
        if self.leases is not None:
            # The lease first: a worker that takes runs before it is known alive could be
            # declared dead by a peer that started a moment earlier.
            await anyio.to_thread.run_sync(self.leases.renew, self.executor_id)
            lease_thread = threading.Thread(
                target=self._keep_lease, name=f"lease-{self.executor_id}", daemon=True
            )
            lease_thread.start()
        try:
            # On this loop, not in a thread: DBOS then runs the workflows here (see above).
            # It blocks the loop for the launch only (migrations), before any run exists.
            self._launch()
            await DBOS.register_queue_async(
                self.settings.queue,
                worker_concurrency=self.settings.concurrency,
                polling_interval_sec=self.settings.poll,
            )
            if waker is not None:
                waker.start()
            logger.info(
                "worker %s taking runs from %r (concurrency %d)",
                self.executor_id,
                self.settings.queue,
                self.settings.concurrency,
            )
            await self._stopped.wait()
        finally:
            if waker is not None:
                await anyio.to_thread.run_sync(waker.stop)
            await anyio.to_thread.run_sync(_destroy)
            self._lease_stop.set()
            if lease_thread is not None and self.leases is not None:
                await anyio.to_thread.run_sync(lease_thread.join)
                await anyio.to_thread.run_sync(self.leases.release, self.executor_id)
                self.leases.close()

    def _launch(self) -> None:
        config = {
            "name": self.settings.app_name,
            "system_database_url": self.settings.url,
            "executor_id": self.executor_id,
            "application_version": self.settings.version,
        }
        try:
            DBOS(config=config)  # type: ignore[arg-type]
            # Only our queue: DBOS otherwise dequeues from every queue of the app, and a plain
            # worker would take the service's runs (and a service worker plain ones).
            DBOS.listen_queues([self.settings.queue])
            # Launch recovers this executor id's own pending workflows (a restart).
            DBOS.launch()
        except Exception as exc:
            raise EngineError(f"cannot start the engine on {self.settings.url!r}: {exc}") from exc

    def _keep_lease(self) -> None:
        """The lease thread: renew, recover dead peers, sleep; until the worker stops."""
        assert self.leases is not None
        while not self._lease_stop.wait(self.settings.heartbeat):
            try:
                self.leases.renew(self.executor_id)
                self._recover_dead()
            except EngineError as exc:
                # The database is unreachable: keep serving what runs; a lease that lapses
                # meanwhile lets peers take this worker's runs (they resume from the journal,
                # so nothing finished is repeated).
                logger.warning("worker %s: %s", self.executor_id, exc)

    def _recover_dead(self) -> None:
        assert self.leases is not None
        for dead in self.leases.expired(excluding=self.executor_id):
            count = self.leases.recover(dead, partial(_recover, dead))
            if count is None:
                continue  # it came back, or a peer recovered it first
            logger.warning(
                "worker %s: executor %s missed its lease; re-queued %d of its runs",
                self.executor_id,
                dead,
                count,
            )
            self.recovered.append(dead)


def _recover(executor_id: str) -> int:
    # DBOS 3.4 has no public call for "recover this dead executor's workflows"; this one
    # re-enqueues only workflows still PENDING on `executor_id`, atomically, so a duplicate
    # recovery (two workers finding the same lapsed lease) re-queues nothing twice. Pinned in
    # the `engine` extra for that reason.
    return len(DBOS._recover_pending_workflows([executor_id]))


def _destroy() -> None:
    DBOS.destroy(workflow_completion_timeout_sec=5)
