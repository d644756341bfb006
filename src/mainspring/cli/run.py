"""`mainspring run "task"`: run the agent with the built-in tools, showing each step."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console

from mainspring.agent import (
    Agent,
    AgentEvent,
    Budget,
    BudgetStop,
    ModelRequestStarted,
    ModelResponded,
    RunFinished,
    RunResult,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.audit import AuditSink, JsonlAuditLog
from mainspring.cli.mcp import MCP_CONFIG_HELP, mcp_tools
from mainspring.config import Settings, load_settings
from mainspring.errors import ConfigurationError
from mainspring.models.base import Model
from mainspring.models.registry import resolve_model
from mainspring.runs import SqliteRunStore
from mainspring.sandbox import detect_sandbox
from mainspring.tools import JsonlEventSink, ToolExecutor, ToolRegistry
from mainspring.tools.builtin import builtin_tools, python_tool, shell_tool

_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def build_model(spec: str, base_url: str | None) -> Model:
    """Resolve the model; API keys come from the environment here, at the edge, never logged."""
    provider = spec.partition(":")[0]
    options: dict[str, Any] = {}
    if base_url is not None:
        if provider != "openai":
            raise typer.BadParameter("--base-url works with openai:<model> (any compatible server)")
        options["base_url"] = base_url
    key_variable = _KEY_VARIABLES.get(provider)
    if key_variable is not None:
        key = os.environ.get("MAINSPRING_API_KEY") or os.environ.get(key_variable) or None
        if key is None and base_url is None:
            raise typer.BadParameter(
                f"{spec!r} needs an API key: set {key_variable} (or MAINSPRING_API_KEY)"
            )
        options["api_key"] = key or "none"
    try:
        return resolve_model(spec, **options)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None


def _describe(event: AgentEvent) -> str | None:
    """One plain line per event worth showing; None for the rest."""
    if isinstance(event, ModelRequestStarted):
        return f"step {event.step}: asking the model ({event.prompt_tokens} prompt tokens)"
    if isinstance(event, ToolCallStarted):
        return f"  -> {event.call.name}({json.dumps(event.call.arguments)})"
    if isinstance(event, ToolCallFinished):
        r = event.result
        outcome = "ok" if r.ok else (r.error.kind if r.error else "error")
        return f"  <- {r.tool}: {outcome}: {r.content[:200]}"
    if isinstance(event, ModelResponded) and event.response.message.content:
        return f"  model: {event.response.message.content[:200]}"
    if isinstance(event, BudgetStop):
        return f"budget reached: {event.reason}"
    return None


def _summary(result: RunResult) -> list[str]:
    usage = result.usage
    lines = [f"answer: {result.output}"]
    if result.error:
        lines.append(f"error: {result.error}")
    lines.append(
        f"stop: {result.stop_reason}  steps: {result.steps}  tool calls: {result.tool_calls}  "
        f"tokens: {usage.input_tokens} in / {usage.output_tokens} out  "
        f"cost: ${usage.cost_usd:.6f}  run: {result.run_id}"
    )
    return lines


async def _run(agent: Agent, task: str, as_json: bool, console: Console) -> RunResult:
    result: RunResult | None = None
    status = None if as_json or not console.is_terminal else console.status("thinking...")
    if status is not None:
        status.start()
    try:
        async for event in agent.run_stream(task):
            if isinstance(event, RunFinished):
                result = event.result
            elif isinstance(event, TextDelta) or as_json:
                continue
            elif (line := _describe(event)) is not None:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
    finally:
        if status is not None:
            status.stop()
        await agent.aclose()
    assert result is not None  # run_stream always ends with RunFinished
    return result


def make_agent(
    settings: Settings, model: Model, protocol: str, budget: Budget, *, code: bool = False
) -> Agent:
    """The CLI's agent: built-in tools, events and audit under the data directory, runs recorded.

    With `code`, the sandboxed `python` and `shell` tools join the built-in ones, in the
    strongest jail this host supports.
    """
    data = settings.data_dir
    audit = AuditSink(JsonlAuditLog(data / "audit.jsonl"))
    tools = builtin_tools()
    if code:
        jail = detect_sandbox()
        tools += [python_tool(jail), shell_tool(jail)]
    executor = ToolExecutor(
        ToolRegistry(tools),
        sinks=[JsonlEventSink(settings.event_log_path), audit],
        default_timeout=settings.default_tool_timeout,
    )
    return Agent(
        model,
        executor,
        budget=budget,
        protocol=protocol,  # type: ignore[arg-type]
        run_store=SqliteRunStore(data / "runs.db"),
        audit=audit,
        instructions="You are a careful assistant. Use a tool when it helps, then answer briefly.",
    )


def run_command(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None, typer.Option(help="provider:model; default from settings.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    protocol: Annotated[str, typer.Option(help="native or react.")] = "native",
    max_cost: Annotated[float | None, typer.Option(help="Stop before spending more USD.")] = None,
    max_iterations: Annotated[int, typer.Option(help="At most this many model calls.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    plan: Annotated[
        bool, typer.Option("--plan", help="Plan the task first; show the plan and its steps live.")
    ] = False,
    code: Annotated[
        bool, typer.Option("--code", help="Also offer the sandboxed python and shell tools.")
    ] = False,
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help=MCP_CONFIG_HELP)] = None,
) -> None:
    """Run the agent on a task with the built-in tools and show each step as it happens."""
    if protocol not in ("native", "react"):
        raise typer.BadParameter(f"protocol {protocol!r} must be native or react")
    settings = load_settings()
    chosen = build_model(model or settings.model, base_url or settings.base_url)
    budget = Budget(max_iterations=max_iterations, max_cost_usd=max_cost)
    agent = make_agent(settings, chosen, protocol, budget, code=code)
    console = Console(file=sys.stdout)

    async def main() -> RunResult:
        try:
            async with mcp_tools(mcp_config, agent.executor.registry):
                if plan:
                    from mainspring.cli.plan_view import run_planned

                    return await run_planned(agent, task, console)
                return await _run(agent, task, as_json, console)
        finally:
            # HTTP models hold a connection pool; close it in the loop that opened it.
            close = getattr(chosen, "aclose", None)
            if close is not None:
                await close()

    result = anyio.run(main)
    if as_json:
        data = {
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
        typer.echo(json.dumps(data))
    else:
        for line in _summary(result):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if result.stop_reason != "error" else 1)
