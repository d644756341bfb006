"""Submitting runs to the engine and asking how they are doing, from any process.

A submitter needs no worker and launches no DBOS runtime: it writes to the queue through
`DBOSClient`. The run id is the workflow id, so the same id finds the run in the run store
(`mainspring runs show ID --store URL`) and in the engine (`run_status`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import anyio

from mainspring._postgres import load_psycopg
from mainspring.engine._wake import channel
from mainspring.engine.base import WORKFLOW_NAME, EngineSettings, new_run_id
from mainspring.errors import EngineError, MissingExtraError

try:
    from dbos import DBOS, DBOSClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the durable engine", "engine") from exc

logger = logging.getLogger("mainspring.engine")

# DBOS workflow states, in the run vocabulary mainspring uses everywhere else.
_STATUS = {
    "ENQUEUED": "queued",
    "PENDING": "running",
    "SUCCESS": "completed",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
}


@dataclass(frozen=True, slots=True)
class SubmittedRun:
    """A run's state as the engine sees it."""

    run_id: str
    status: str
    """queued, running, completed, failed or cancelled."""
    outcome: dict[str, Any] | None = None
    """The workflow's result once it finished (`RunOutcome`)."""
    executor_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunHandle:
    """A submitted run: ask how it is doing, wait for it, or cancel it, from any process."""

    client: EngineClient
    run_id: str

    async def status(self) -> SubmittedRun:
        """Where the run is now."""
        return await self.client.status(self.run_id)

    async def wait(self, *, seconds: float = 300.0) -> SubmittedRun:
        """Until the run finishes (`EngineError` after `seconds`)."""
        return await self.client.wait(self.run_id, seconds=seconds)

    async def cancel(self) -> None:
        """Cancel the run: a queued one never starts, a running one stops within a second."""
        await self.client.cancel(self.run_id)


class EngineClient:
    """Enqueues runs and reads their state; one per process is plenty."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        try:
            self._client = DBOSClient(system_database_url=settings.url)
        except Exception as exc:
            raise EngineError(f"cannot reach the engine at {settings.url!r}: {exc}") from exc
        self._migrated = False
        self._conn: Any = None
        self._lock = threading.Lock()

    async def _ensure_schema(self) -> None:
        # DBOSClient never creates DBOS's tables; a submitter may come before any worker.
        if self._migrated:
            return
        try:
            await anyio.to_thread.run_sync(DBOS.migrate, self.settings.url)
        except Exception as exc:
            raise EngineError(f"cannot set up the engine at {self.settings.url!r}: {exc}") from exc
        self._migrated = True

    async def submit(self, task: str, *, run_id: str | None = None) -> str:
        """Queue `task` as a run and return its id (re-submitting an id is a no-op)."""
        if not task.strip():
            raise EngineError("the task is empty: say what the agent should do")
        run_id = run_id or new_run_id()
        await self.enqueue(WORKFLOW_NAME, run_id, run_id, task)
        return run_id

    async def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None:
        """Queue one call of the registered workflow `workflow` under `workflow_id`.

        The lower-level form of `submit`, for workflows other than a plain run (the service's).
        """
        await self._ensure_schema()
        options: Any = {
            "workflow_name": workflow,
            "queue_name": self.settings.queue,
            "workflow_id": workflow_id,
        }
        try:
            await self._client.enqueue_async(options, *args)
        except Exception as exc:
            raise EngineError(f"cannot queue the run at {self.settings.url!r}: {exc}") from exc
        if self.settings.shared:
            await anyio.to_thread.run_sync(self._wake)

    def _wake(self) -> None:
        # Workers LISTEN on the queue's channel (engine/_wake.py); a lost notification only
        # means the run waits for their next poll.
        psycopg = load_psycopg("the engine client")
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.settings.url, autocommit=True)
                self._conn.execute("SELECT pg_notify(%s, '')", (channel(self.settings.queue),))
            except psycopg.Error as exc:
                logger.debug("could not wake the workers of %r: %s", self.settings.queue, exc)
                self._conn = None

    async def cancel(self, run_id: str) -> None:
        """Cancel the run: a queued one never starts, a running one is stopped by its worker."""
        try:
            await self._client.cancel_workflow_async(run_id)
        except Exception as exc:
            raise EngineError(f"cannot cancel {run_id!r} at {self.settings.url!r}: {exc}") from exc

    def handle(self, run_id: str) -> RunHandle:
        """A handle on a submitted run."""
        return RunHandle(self, run_id)

    async def status(self, run_id: str) -> SubmittedRun:
        """Where the run is; `EngineError` if the engine never heard of it."""
        try:
            handle: Any = await self._client.retrieve_workflow_async(run_id)
            info = await handle.get_status()
        except Exception as exc:
            raise EngineError(f"no run {run_id!r} in the engine at {self.settings.url!r}") from exc
        status = _STATUS.get(str(info.status), str(info.status).lower())
        outcome = info.output if isinstance(info.output, dict) else None
        return SubmittedRun(run_id, status, outcome, info.executor_id)

    async def wait(self, run_id: str, *, seconds: float = 300.0, poll: float = 0.2) -> SubmittedRun:
        """Poll until the run finishes (or `seconds` pass: `EngineError`)."""
        with anyio.move_on_after(seconds):
            while True:
                state = await self.status(run_id)
                if state.status not in ("queued", "running"):
                    return state
                await anyio.sleep(poll)
        raise EngineError(f"run {run_id!r} did not finish within {seconds:g} s")

    def close(self) -> None:
        """Release the client's connections."""
        self._client.destroy()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
