"""`mainspring worker` and `mainspring submit`: runs spread over worker processes by the engine."""

from __future__ import annotations

import importlib
import json
import signal
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from mainspring.agent import Agent, Budget
from mainspring.audit import AuditSink
from mainspring.cli.mcp import MCP_CONFIG_HELP, mcp_tools
from mainspring.cli.run import build_model
from mainspring.cli.serve import mcp_servers, serve_models, serve_tools
from mainspring.config import load_settings
from mainspring.engine import EngineSettings
from mainspring.errors import ConfigurationError, EngineError, MissingExtraError
from mainspring.mcp import MCPServerConfig
from mainspring.runs import PostgresRunStore
from mainspring.tools import Tool, ToolExecutor, ToolRegistry
from mainspring.tools.builtin import builtin_tools


def load_tools(spec: str) -> list[Tool]:
    """The tools at `MODULE:ATTR`.

    The attribute is a list of `Tool`s, a `ToolRegistry`, or a function without arguments that
    returns one of those.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise typer.BadParameter(f"--tools {spec!r}: write MODULE:ATTR, e.g. myapp.tools:TOOLS")
    try:
        value: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"--tools {spec!r}: {exc}") from None
    if callable(value) and not isinstance(value, Tool):
        value = value()
    if isinstance(value, ToolRegistry):
        return list(value)
    if isinstance(value, Tool):
        return [value]
    if isinstance(value, Iterable):
        tools = list(value)
        if all(isinstance(t, Tool) for t in tools):
            return tools
    raise typer.BadParameter(f"--tools {spec!r} is not a list of tools or a ToolRegistry")


def _engine(db: str, **options: Any) -> EngineSettings:
    try:
        return EngineSettings(db, **options)
    except EngineError as exc:
        raise typer.BadParameter(str(exc)) from None


def _registry(tools: list[Tool], redis: str | None) -> ToolRegistry:
    backend = None
    if redis is not None:
        from mainspring.tools.guards.redis_backend import RedisBackend

        backend = RedisBackend.from_url(redis)
    return ToolRegistry(tools, backend=backend)


def _worker_agent(db: str, model_spec: str, base_url: str | None, registry: ToolRegistry) -> Agent:
    audit = AuditSink(_audit_log(db))
    executor = ToolExecutor(registry)
    return Agent(
        build_model(model_spec, base_url),
        executor,
        run_store=PostgresRunStore(db),
        audit=audit,
        budget=Budget(max_iterations=20),
        instructions="You are a careful assistant. Use a tool when it helps, then answer briefly.",
    )


def _audit_log(db: str) -> Any:
    from mainspring.audit import PostgresAuditLog

    return PostgresAuditLog(db)


def worker_command(
    db: Annotated[str, typer.Option(help="PostgreSQL URL shared by all workers.")],
    tools: Annotated[
        str | None, typer.Option(help="MODULE:ATTR of your tools (default: the built-in ones).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="provider:model; default from settings.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    redis: Annotated[
        str | None,
        typer.Option(help="Redis URL for rate limits, breakers and cache shared by all workers."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Runs this worker executes at once.")] = 4,
    executor_id: Annotated[
        str | None, typer.Option(help="This worker's id; reuse it on restart to recover at once.")
    ] = None,
    lease: Annotated[
        float, typer.Option(help="Seconds without a heartbeat after which a worker is dead.")
    ] = 10.0,
    poll: Annotated[
        float | None,
        typer.Option(help="Seconds between queue polls (a submit also wakes workers; default 1)."),
    ] = None,
    mcp_config: Annotated[
        Path | None,
        typer.Option("--mcp-config", help=MCP_CONFIG_HELP),
    ] = None,
    service: Annotated[
        bool,
        typer.Option(
            "--service",
            help="Execute `mainspring serve`'s runs (same [server] settings and variables).",
        ),
    ] = False,
) -> None:
    """Take runs from the engine's queue until SIGTERM or Ctrl-C."""
    if not db.startswith(("postgresql://", "postgres://")):
        raise typer.BadParameter("--db must be a PostgreSQL URL (postgresql://host/db)")
    from mainspring.engine.worker import Worker

    options: dict[str, Any] = {
        "concurrency": concurrency,
        "executor_id": executor_id,
        "lease_seconds": lease,
        "poll_seconds": poll,
    }
    if service:
        servers = [] if mcp_config is None else mcp_servers(mcp_config)
        worker = _service_worker(db, tools, model, base_url, redis, servers, options)
    else:
        settings = load_settings()
        registry = _registry(tools and load_tools(tools) or builtin_tools(), redis)
        model_spec = model or settings.model
        agent = _worker_agent(db, model_spec, base_url or settings.base_url, registry)
        session = partial(mcp_tools, mcp_config, registry) if mcp_config else None
        worker = Worker(_engine(db, **options), agent, session=session)
    kind = "service runs" if service else "runs"
    typer.echo(f"worker {worker.executor_id}: {kind} on {db} (concurrency {concurrency})", err=True)

    async def serve() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, worker)
            await worker.run()
            group.cancel_scope.cancel()

    try:
        anyio.run(serve)
    except EngineError as exc:
        raise typer.BadParameter(str(exc)) from None


def _service_worker(
    db: str,
    tools: str | None,
    model: str | None,
    base_url: str | None,
    redis: str | None,
    servers: list[MCPServerConfig],
    options: dict[str, Any],
) -> Any:
    """A worker holding the service's state, taking the service's runs from its queue."""
    try:
        from mainspring.server import build_state, load_server_settings
        from mainspring.server._engine import engine_settings, service_session
    except MissingExtraError as exc:
        raise typer.BadParameter(str(exc)) from None
    from mainspring.engine.worker import Worker

    base = load_settings()
    try:
        settings = load_server_settings(base, model=model, engine_url=db, redis_url=redis)
        engine = engine_settings(settings, **options)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    models = serve_models(settings, base_url or base.base_url)
    state = build_state(settings, tools=serve_tools([tools] if tools else []), models=models)
    return Worker(engine, session=partial(service_session, state, servers))


async def _stop_on_signal(worker: Any) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            worker.stop()
            return


def submit_command(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    db: Annotated[str, typer.Option(help="The engine's PostgreSQL URL.")],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id": ...}.')] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish and print it.")] = False,
    wait_seconds: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 300.0,
) -> None:
    """Queue a run for the workers and print its id."""
    from mainspring.engine.client import EngineClient

    async def go() -> dict[str, Any]:
        client = EngineClient(_engine(db))
        try:
            run_id = await client.submit(task)
            if not wait:
                return {"id": run_id, "status": "queued"}
            state = await client.wait(run_id, seconds=wait_seconds)
            return {"id": run_id, "status": state.status, **(state.outcome or {})}
        finally:
            client.close()

    try:
        data = anyio.run(go)
    except (EngineError, ConfigurationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(data))
    elif wait:
        typer.echo(f"{data['id']}: {data['status']}: {data.get('output', '')}")
    else:
        typer.echo(data["id"])
