"""`mainspring run "task"`: run the agent with the built-in tools, showing each step as it happens.

Ctrl-C marks the run `interrupted` in the run store and prints how to resume it; the exit code
says how the run ended (`mainspring.cli.exit_codes`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console

from mainspring.agent import Agent, Budget, RunFinished, RunResult
from mainspring.audit import AuditSink
from mainspring.cli.exit_codes import EXIT_INTERRUPTED, exit_code_for
from mainspring.cli.mcp import MCP_CONFIG_HELP, mcp_tools
from mainspring.cli.progress import phase, stderr_console
from mainspring.cli.run_view import RunView, summary
from mainspring.cli.stores import (
    connect_guard_backend,
    ensure_data_dir,
    open_audit_log,
    open_run_store,
)
from mainspring.config import Settings, load_settings, mask_url
from mainspring.errors import ConfigurationError, RunNotFoundError
from mainspring.hooks import Hooks
from mainspring.models.base import Model
from mainspring.models.registry import resolve_model
from mainspring.runs import RunStore
from mainspring.runs.base import utc_now
from mainspring.tools import JsonlEventSink, ToolExecutor, ToolRegistry
from mainspring.tools.builtin import builtin_tools, python_tool, shell_tool
from mainspring.tools.guards import GuardBackend

_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def build_model(spec: str, base_url: str | None, api_key: str | None = None) -> Model:
    """Resolve the model; API keys come from the settings or the environment, never logged."""
    provider = spec.partition(":")[0]
    options: dict[str, Any] = {}
    if base_url is not None:
        if provider != "openai":
            raise typer.BadParameter("--base-url works with openai:<model> (any compatible server)")
        options["base_url"] = base_url
    key_variable = _KEY_VARIABLES.get(provider)
    if key_variable is not None:
        key = api_key or os.environ.get(key_variable) or None
        if key is None and base_url is None:
            raise typer.BadParameter(
                f"{spec!r} needs an API key: set {key_variable} (or MAINSPRING_API_KEY)"
            )
        options["api_key"] = key or "none"
    try:
        return resolve_model(spec, **options)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None


def settings_api_key(settings: Settings) -> str | None:
    """The provider key from the settings (`api_key` / MAINSPRING_API_KEY), if any."""
    return settings.api_key.get_secret_value() if settings.api_key is not None else None


async def load_model(model: Model, console: Console) -> None:
    """Load a local model before the run, saying so: the first load takes seconds."""
    if model.name.startswith("local:"):
        with phase(console, f"loading the model {model.name}"):
            await anyio.to_thread.run_sync(model.tokenizer.count, "load")


async def _run(agent: Agent, task: str, view: RunView) -> RunResult:
    result: RunResult | None = None
    try:
        async for event in agent.run_stream(task):
            if isinstance(event, RunFinished):
                result = event.result
            else:
                view.apply(event)
    finally:
        view.close()
        await agent.aclose()
    assert result is not None  # run_stream always ends with RunFinished
    return result


def telemetry_hooks() -> Any:
    """OpenTelemetry as the standard `OTEL_*` variables ask (None when none ask for it).

    The environment is read here, at the edge; without the `otel` extra the variables are
    ignored with a warning rather than failing the run.
    """
    if not any(os.environ.get(v) for v in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER")):
        return None
    try:
        from mainspring.telemetry.setup import telemetry_from_environment
    except ConfigurationError as exc:  # MissingExtraError: the otel extra is not installed
        stderr_console().print(f"warning: OTEL_* variables ignored: {exc}", markup=False)
        return None
    return telemetry_from_environment(os.environ)


def make_agent(
    settings: Settings,
    model: Model,
    protocol: str,
    budget: Budget,
    *,
    code: bool = False,
    allow_weaker_sandbox: bool = False,
    run_store: RunStore | None = None,
    backend: GuardBackend | None = None,
    hooks: Sequence[Hooks] = (),
) -> Agent:
    """The CLI's agent: built-in tools, events and audit where the settings say, runs recorded.

    With `code`, the sandboxed `python` and `shell` tools join the built-in ones, in the
    strongest jail this host supports; below namespaces they are refused unless
    `allow_weaker_sandbox`. `hooks` observe every call (telemetry). `run_store` defaults to the
    settings' run store; `backend` (shared guard state, e.g. Redis) to in-process limits.
    """
    audit = AuditSink(open_audit_log(settings))
    tools = builtin_tools()
    if code:
        tools += [
            python_tool(allow_weaker=allow_weaker_sandbox),
            shell_tool(allow_weaker=allow_weaker_sandbox),
        ]
    if settings.event_log is None:
        ensure_data_dir(settings)
    executor = ToolExecutor(
        ToolRegistry(tools, backend=backend),
        sinks=[JsonlEventSink(settings.event_log_path), audit],
        default_timeout=settings.default_tool_timeout,
    )
    return Agent(
        model,
        executor,
        budget=budget,
        protocol=protocol,  # type: ignore[arg-type]
        run_store=run_store or open_run_store(None, settings),
        audit=audit,
        hooks=hooks,
        instructions="You are a careful assistant. Use a tool when it helps, then answer briefly.",
    )


def result_json(result: RunResult) -> dict[str, Any]:
    """A run's result as the JSON `--json` prints."""
    return {
        "output": result.output,
        "stop_reason": result.stop_reason,
        "run_id": result.run_id,
        "steps": result.steps,
        "tool_calls": result.tool_calls,
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cost_usd": result.usage.cost_usd,
        "error": result.error,
    }


async def _main(settings: Settings, options: _RunOptions, view: RunView) -> RunResult:
    chosen = options.model
    backend = await connect_guard_backend(settings)
    telemetry = telemetry_hooks()
    agent = make_agent(
        settings,
        chosen,
        options.protocol,
        options.budget,
        code=options.code,
        allow_weaker_sandbox=options.allow_weaker_sandbox,
        backend=backend,
        hooks=() if telemetry is None else [telemetry.hooks],
    )
    await load_model(chosen, stderr_console())
    try:
        async with mcp_tools(options.mcp_config, agent.executor.registry):
            if options.plan:
                from mainspring.cli.plan_view import run_planned

                # With --json the plan view is silent: stdout is the one JSON document.
                console = Console(quiet=True) if view.quiet else view.console
                return await run_planned(agent, options.task, console, seen=view)
            return await _run(agent, options.task, view)
    finally:
        # HTTP models hold a connection pool; close it in the loop that opened it.
        close = getattr(chosen, "aclose", None)
        if close is not None:
            await close()
        if telemetry is not None:
            telemetry.shutdown()  # flushes batched spans and the last metrics


def _positive(value: float | None) -> float | None:
    """Reject caps that would stop a run before it starts (0, negative)."""
    if value is not None and value <= 0:
        raise typer.BadParameter(f"must be a positive number, got {value:g}")
    return value


@dataclass(frozen=True, slots=True)
class _RunOptions:
    task: str
    model: Model
    protocol: str
    budget: Budget
    plan: bool
    code: bool
    mcp_config: Path | None = None
    allow_weaker_sandbox: bool = False


def run_command(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None, typer.Option(help="provider:model; default from settings.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    protocol: Annotated[str, typer.Option(help="native or react.")] = "native",
    max_cost: Annotated[
        float | None,
        typer.Option(callback=_positive, help="Stop before spending more than this many USD."),
    ] = None,
    max_iterations: Annotated[int, typer.Option(min=1, help="At most this many model calls.")] = 10,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="At most this many tokens, input plus output.")
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(callback=_positive, help="Stop after this many seconds of wall clock."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    plan: Annotated[
        bool, typer.Option("--plan", help="Plan the task first; show the plan and its steps live.")
    ] = False,
    code: Annotated[
        bool, typer.Option("--code", help="Also offer the sandboxed python and shell tools.")
    ] = False,
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help=MCP_CONFIG_HELP)] = None,
    allow_weaker_sandbox: Annotated[
        bool,
        typer.Option(
            "--allow-weaker-sandbox",
            help="With --code, run below the namespaces level (no bubblewrap) instead of refusing.",
        ),
    ] = False,
) -> None:
    """Run the agent on a task with the built-in tools and show each step as it happens.

    The exit code says how the run ended (0 answered; see docs/cli.md for the table).
    """
    if protocol not in ("native", "react"):
        raise typer.BadParameter(f"protocol {protocol!r} must be native or react")
    settings = load_settings()
    budget = Budget(
        max_iterations=max_iterations,
        max_cost_usd=max_cost,
        max_tokens=max_tokens,
        max_seconds=max_seconds,
    )
    chosen = build_model(
        model or settings.model, base_url or settings.base_url, settings_api_key(settings)
    )
    options = _RunOptions(
        task, chosen, protocol, budget, plan, code, mcp_config, allow_weaker_sandbox
    )
    view = RunView(Console(file=sys.stdout), quiet=as_json)
    try:
        result = anyio.run(_main, settings, options, view)
    except KeyboardInterrupt:
        view.close()
        interrupted(settings, view.run_id, view.sub_runs)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        typer.echo(json.dumps(result_json(result)))
    else:
        for line in summary(result, shown=view.last_text):
            view.console.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code_for(result.stop_reason))


def interrupted(
    settings: Settings,
    run_id: str | None,
    sub_runs: Sequence[str] = (),
    *,
    store_url: str | None = None,
) -> None:
    """After Ctrl-C: mark the run (and its running sub-runs) interrupted and say how to resume.

    `store_url` is the run store the run lives in (a `--store` option), else the settings'.
    """
    if run_id is None:
        typer.echo("interrupted before the run was recorded; nothing to resume", err=True)
        return

    async def mark() -> bool:
        store = open_run_store(store_url, settings)
        try:
            marked = False
            for rid in (run_id, *sub_runs):
                try:
                    info = (await store.load(rid)).info
                except RunNotFoundError:
                    continue
                if info.status == "running":
                    note = "interrupted (Ctrl-C); continue with `mainspring runs resume`"
                    await store.update(
                        replace(info, status="interrupted", note=note, updated_at=utc_now())
                    )
                marked = marked or rid == run_id
            return marked
        finally:
            await store.aclose()

    if anyio.run(mark):
        where = f" --store {mask_url(store_url)}" if store_url is not None else ""
        typer.echo(f"interrupted; resume with `mainspring runs resume {run_id}{where}`", err=True)
    else:
        typer.echo("interrupted before the run was recorded; nothing to resume", err=True)
