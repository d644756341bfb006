"""The service on the durable engine: runs queued for workers, and the workflow they execute.

With `engine_url` set, `RunService.create` writes the run's row and queues the workflow
`mainspring.service_run(run_id, tenant, resume)` on the engine's service queue. A worker
started with `mainspring worker --service` holds the same `ServiceState` (same settings, tools
and models, the same PostgreSQL `database_url`) and runs `RunService.execute_here`: status,
events, approvals and the run record land in the shared tables, where the accepting replica
(or any other) reads them. A worker that dies is recovered as any engine run is, and the
re-run continues the run from its record.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from mainspring.engine.base import EngineSettings
from mainspring.engine.client import EngineClient
from mainspring.errors import ConfigurationError, EngineError, MissingExtraError
from mainspring.mcp.base import MCPServerConfig
from mainspring.server.runs import RunService
from mainspring.server.settings import ServerSettings
from mainspring.server.state import ServiceState

try:
    from dbos import DBOS
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the durable engine", "engine") from exc

SERVICE_WORKFLOW = "mainspring.service_run"
"""The workflow of a service run: `(run_id, tenant, resume)` in, `{"run_id", "status"}` out."""

SERVICE_QUEUE = "mainspring-service-runs"
"""The queue of service runs (plain `mainspring submit` runs have their own)."""


def engine_settings(settings: ServerSettings, **options: Any) -> EngineSettings:
    """The engine the service queues to; a configuration error if it cannot work."""
    if settings.engine_url is None:
        raise ConfigurationError("engine_url is not set")
    url = settings.database_url
    if url is None or not url.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(
            "engine_url needs database_url set to a PostgreSQL URL too: the workers write "
            "each run's status, events and approvals to the service's tables"
        )
    try:
        return EngineSettings(settings.engine_url, queue=SERVICE_QUEUE, **options)
    except EngineError as exc:
        raise ConfigurationError(f"engine_url: {exc}") from None


class EngineDispatcher:
    """Queues the service's runs on the engine (a `Dispatcher`)."""

    def __init__(self, settings: EngineSettings) -> None:
        self.client = EngineClient(settings)

    async def submit(self, run_id: str, tenant: str, *, resume: bool) -> None:
        """Queue the run; a resume gets a workflow id of its own (the first one finished)."""
        workflow_id = f"{run_id}.resume-{secrets.token_hex(4)}" if resume else run_id
        await self.client.enqueue(SERVICE_WORKFLOW, workflow_id, run_id, tenant, resume)

    async def cancel(self, run_id: str) -> None:
        """Off the queue if it is still there; a running one is stopped by its worker."""
        await self.client.cancel(run_id)

    def close(self) -> None:
        """Release the engine client."""
        self.client.close()


class _Installed:
    runs: RunService | None = None


@DBOS.workflow(name=SERVICE_WORKFLOW)
async def service_run(run_id: str, tenant: str, resume: bool) -> dict[str, str]:
    """One service run on a worker (see the module docstring)."""
    if _Installed.runs is None:
        raise EngineError("this worker has no service installed: start it with --service")
    status = await _Installed.runs.execute_here(run_id, tenant, resume=resume)
    return {"run_id": run_id, "status": status}


@asynccontextmanager
async def service_session(
    state: ServiceState, mcp_servers: Sequence[MCPServerConfig] = ()
) -> AsyncIterator[None]:
    """A worker's service, on the worker's loop: MCP connected, stores closed at the end."""
    async with AsyncExitStack() as stack:
        stack.push_async_callback(state.aclose)
        if mcp_servers:
            await state.connect_mcp(stack, mcp_servers)
        _Installed.runs = state.runs
        try:
            yield
        finally:
            _Installed.runs = None
