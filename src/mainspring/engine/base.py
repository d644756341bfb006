"""The engine's settings and names: what workers and submitters must agree on."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from typing import TypeVar

import anyio

from mainspring import __version__
from mainspring.errors import EngineError

WORKFLOW_NAME = "mainspring.run"
"""The DBOS workflow every run is: `(run_id, task)` in, a `RunOutcome` dict out."""

QUEUE_NAME = "mainspring-runs"
"""The DBOS queue submitters enqueue to and workers take runs from."""

CANCEL_POLL_SECONDS = 0.5
"""How often a worker checks whether a run it is executing was cancelled elsewhere."""

T = TypeVar("T")


def new_executor_id() -> str:
    """A fresh executor id: host name plus a random suffix, unique across restarts."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def new_run_id() -> str:
    """The id of a submitted run, which is also its DBOS workflow id."""
    return f"run_{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Where the engine keeps its state and how workers share the load.

    `url` is the DBOS system database: a PostgreSQL URL for several workers (leases and
    recovery need it), or `sqlite:///path` for a single worker in tests and on a laptop.
    """

    url: str
    _: KW_ONLY
    queue: str = QUEUE_NAME
    concurrency: int = 4
    """Runs one worker process executes at once."""
    lease_seconds: float = 10.0
    """How long a worker's heartbeat keeps it alive: a killed worker's runs move to another
    worker within about this long (plus one heartbeat)."""
    heartbeat_seconds: float | None = None
    """How often a worker renews its lease and looks for dead ones (default: a third of the
    lease)."""
    poll_seconds: float | None = None
    """How often a worker polls the queue for new runs. On PostgreSQL a submit also wakes the
    workers at once (LISTEN/NOTIFY), so the poll is a safety net: default 1 s there, 0.05 s on
    SQLite."""
    executor_id: str | None = None
    """This worker's identity; restarting with the same id recovers its own runs at once."""
    app_name: str = "mainspring"
    app_version: str | None = None
    """DBOS's application version of this worker. DBOS hands a submitted run only to workers of
    the latest version it has seen, and by default derives the version from the workflows a
    process registered, so a plain and a service worker would never both take runs. Default:
    `mainspring-<release>`, the same for every worker of one release; set your own to move
    new runs to the new workers of a rolling upgrade while the old ones finish theirs."""

    def __post_init__(self) -> None:
        if not (self.url.startswith(("postgresql://", "postgres://", "sqlite:///"))):
            raise EngineError(
                f"engine database {self.url!r} is not supported: use postgresql://host/db "
                "(several workers) or sqlite:///path (one worker)"
            )
        if self.concurrency < 1:
            raise EngineError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.lease_seconds <= 0 or (self.poll_seconds is not None and self.poll_seconds <= 0):
            raise EngineError("lease_seconds and poll_seconds must be positive")

    @property
    def shared(self) -> bool:
        """Whether several workers can share this database (PostgreSQL)."""
        return not self.url.startswith("sqlite:")

    @property
    def poll(self) -> float:
        """Seconds between queue polls (see `poll_seconds`)."""
        return self.poll_seconds or (1.0 if self.shared else 0.05)

    @property
    def version(self) -> str:
        """The DBOS application version workers launch with (see `app_version`)."""
        return self.app_version or f"mainspring-{__version__}"

    @property
    def heartbeat(self) -> float:
        """Seconds between lease renewals."""
        return self.heartbeat_seconds or self.lease_seconds / 3


async def until_cancelled(
    work: Callable[[], Awaitable[T]],
    cancelled: Callable[[], Awaitable[bool]],
    *,
    poll: float = CANCEL_POLL_SECONDS,
) -> T | None:
    """`work()`, stopped when `cancelled()` (checked every `poll` s) turns true: then None.

    A cancel reaches a run on another host only through the database, so the run's own
    process polls for it; the stopped run records `interrupted` and the caller marks it
    cancelled.
    """
    result: list[T] = []

    async def watch(scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(poll)
            if await cancelled():
                scope.cancel()
                return

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        result.append(await work())
        group.cancel_scope.cancel()
    return result[0] if result else None
