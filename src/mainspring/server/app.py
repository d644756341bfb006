"""`create_app`: the ASGI application of the service, for `mainspring serve` or your own server."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mainspring.audit import AuditLog, AuditSink, SqliteAuditLog
from mainspring.hooks import Sealer
from mainspring.mcp.base import MCPServerConfig
from mainspring.models.base import Model
from mainspring.models.registry import resolve_model
from mainspring.runs import RunStore, SqliteRunStore
from mainspring.sealing import FernetSealer
from mainspring.server._db import Database, ServiceDatabase
from mainspring.server.api import api_routes
from mainspring.server.approvals import ApprovalBook
from mainspring.server.auth import Sessions
from mainspring.server.dashboard import dashboard_routes
from mainspring.server.events import EventLog
from mainspring.server.keys import KeyStore
from mainspring.server.metrics import ServiceMetrics
from mainspring.server.problems import Problem
from mainspring.server.runs import Dispatcher, RunService
from mainspring.server.settings import ServerSettings
from mainspring.server.state import ServiceState
from mainspring.server.tenants import Quotas, TenantTools
from mainspring.tools.base import Tool
from mainspring.tools.guards.backend import GuardBackend
from mainspring.tools.guards.memory_backend import InMemoryBackend

logger = logging.getLogger("mainspring.server")


def _backend(settings: ServerSettings) -> GuardBackend:
    if settings.redis_url is None:
        return InMemoryBackend()
    from mainspring.tools.guards.redis_backend import RedisBackend

    return RedisBackend.from_url(settings.redis_url)


def _stores(settings: ServerSettings) -> tuple[ServiceDatabase, RunStore, AuditLog]:
    """The service's tables, the run records and the audit log: SQLite, or one PostgreSQL."""
    url, schema = settings.database_url, settings.database_schema
    if url is None:
        data = settings.data_dir
        return (
            Database(settings.database_path),
            SqliteRunStore(data / "runs.db"),
            SqliteAuditLog(data / "audit.db"),
        )
    from mainspring.audit.postgres import PostgresAuditLog
    from mainspring.runs.postgres import PostgresRunStore
    from mainspring.server._postgres import PostgresDatabase

    return (
        PostgresDatabase(url, schema=schema),
        PostgresRunStore(url, schema=f"{schema}_runs"),
        PostgresAuditLog(url, schema=f"{schema}_audit"),
    )


def _sealer(settings: ServerSettings) -> Sealer:
    """The operator's sealing key: from the settings, else a key file made once (0600)."""
    if settings.sealing_key is not None:
        return FernetSealer(settings.sealing_key.get_secret_value())
    path = settings.data_dir / "sealing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two replicas starting at once on one data directory make one key, not two.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(FernetSealer.new_key())
    return FernetSealer(path.read_bytes().strip())


def _dispatcher(settings: ServerSettings) -> Dispatcher | None:
    """The engine's queue when `engine_url` is set (the engine extra is needed only then)."""
    if settings.engine_url is None:
        return None
    from mainspring.server._engine import EngineDispatcher, engine_settings

    return EngineDispatcher(engine_settings(settings))


def build_state(
    settings: ServerSettings,
    *,
    tools: Sequence[Tool] = (),
    models: Mapping[str, Model] | None = None,
    backend: GuardBackend | None = None,
) -> ServiceState:
    """The service's parts over the data directory (no I/O beyond opening SQLite files)."""
    db, run_store, audit_log = _stores(settings)
    metrics = ServiceMetrics()
    audit = AuditSink(audit_log)
    guard_backend = backend or _backend(settings)
    tenants = TenantTools(tools, guard_backend, [audit, metrics])
    keys = KeyStore(db, default_scopes=frozenset(settings.default_scopes))
    dispatcher = _dispatcher(settings)
    shared = dispatcher is not None  # workers append events to the same runs
    events = EventLog(db, shared=shared, poll_seconds=settings.engine_poll_seconds)
    approvals = ApprovalBook(db, timeout=settings.approval_timeout)
    chosen = dict(models) if models is not None else {m: resolve_model(m) for m in settings.models}
    runs = RunService(
        settings=settings,
        db=db,
        events=events,
        approvals=approvals,
        tenants=tenants,
        quotas=Quotas(db, settings.quotas, guard_backend, metrics),
        run_store=run_store,
        audit=audit,
        models=chosen,
        metrics=metrics,
        sealer=_sealer(settings),
        instance=settings.instance_id or f"{socket.gethostname()}:{settings.port}",
        dispatcher=dispatcher,
    )
    return ServiceState(
        settings=settings,
        keys=keys,
        sessions=Sessions(db, keys, hours=settings.session_hours),
        runs=runs,
        events=events,
        approvals=approvals,
        tenants=tenants,
        audit_log=audit_log,
        metrics=metrics,
    )


def create_app(
    settings: ServerSettings,
    *,
    tools: Sequence[Tool] = (),
    models: Mapping[str, Model] | None = None,
    backend: GuardBackend | None = None,
    mcp_servers: Sequence[MCPServerConfig] = (),
) -> Starlette:
    """The service as an ASGI app.

    Args:
        settings: where data lives, what is allowed, the limits.
        tools: the tools runs may use (each with its policy: scopes, approval, limits).
        models: model by name; default: each of `settings.models` resolved by name.
        backend: shared guard state; default from `settings.redis_url`, else in-process.
        mcp_servers: MCP servers whose tools runs may use too (`load_mcp_config`); they are
            connected when the app starts (the tool list is the one they offer then).
    """
    state = build_state(settings, tools=tools, models=models, backend=backend)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if mcp_servers:
                await state.connect_mcp(stack, mcp_servers)
            async with anyio.create_task_group() as group:
                await _serve(group, state)
                try:
                    yield
                finally:
                    # Runs still going are interrupted here and resumed by the next start.
                    group.cancel_scope.cancel()
        await state.aclose(backend=backend is None)  # a given backend is the caller's to close

    app = Starlette(
        routes=[*api_routes(), *dashboard_routes()],
        lifespan=lifespan,
        exception_handlers={Problem: _problem, HTTPException: _http_error, 500: _crash},
    )
    app.state.service = state
    app.add_middleware(_CountResponses, metrics=state.metrics)
    return app


async def _serve(group: TaskGroup, state: ServiceState) -> None:
    """Take the runs task group, resume interrupted runs, keep their leases."""
    state.runs.attach(group)
    if state.runs.dispatcher is not None:
        return  # the engine's workers execute the runs, and recover them
    recovered = await state.runs.recover()
    if recovered:
        logger.info("resuming %d runs that were active when the server stopped", recovered)
    group.start_soon(state.runs.keep_leases)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {404: "no such endpoint; see docs/server.md", 405: "method not allowed here"}
    return Problem(exc.status_code, detail.get(exc.status_code, str(exc.detail))).response()


async def _crash(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return Problem(500, "the server failed on this request; its log has the details").response()


class _CountResponses:
    """Counts responses by status code (pure ASGI, so streams are not buffered)."""

    def __init__(self, app: object, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return

        async def counting(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                self.metrics.http_requests.labels(str(message["status"])).inc()
            await send(message)  # type: ignore[operator]

        await self.app(scope, receive, counting)  # type: ignore[operator]
