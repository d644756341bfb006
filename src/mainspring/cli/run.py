"""`mainspring run "task"`: run the agent with the built-in tools and show each step.

This is the edge where the environment is read: API keys come from `OPENAI_API_KEY` /
`ANTHROPIC_API_KEY`, the default model and base URL from mainspring.toml / `MAINSPRING_*`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from mainspring.agent import (
    Agent,
    Budget,
    BudgetStop,
    FinalAnswer,
    ModelRequestStarted,
    RunFinished,
    RunResult,
    ToolCallFinished,
)
from mainspring.agent.base import AgentEvent
from mainspring.config import load_settings
from mainspring.errors import ConfigurationError
from mainspring.models import Model, resolve_model
from mainspring.tools.builtin import builtin_tools

_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def build_model(name: str, base_url: str | None) -> Model:
    """Resolve `name`, passing the provider's API key from the environment and `base_url`."""
    provider = name.partition(":")[0]
    options: dict[str, Any] = {}
    variable = _KEY_VARIABLES.get(provider)
    if variable and os.environ.get(variable):
        options["api_key"] = os.environ[variable]
    if base_url:
        if provider not in _KEY_VARIABLES:
            raise ConfigurationError(
                f"--base-url applies to openai: and anthropic: models, not {name!r}"
            )
        options["base_url"] = base_url
    return resolve_model(name, **options)


def _show(console: Console, event: AgentEvent) -> None:
    if isinstance(event, ModelRequestStarted):
        console.print(f"[dim]step {event.step + 1}: asking the model...[/dim]")
    elif isinstance(event, ToolCallFinished):
        args = event.call.arguments
        shown = args if isinstance(args, str) else json.dumps(args)
        mark = "[green]ok[/green]" if event.result.ok else "[red]error[/red]"
        call = f"{escape(event.call.name)}({escape(shown)})"
        console.print(f"  tool {call} -> {mark} {escape(event.result.content)}")
    elif isinstance(event, BudgetStop):
        console.print(f"[yellow]stopped: {event.reason}[/yellow]")
    elif isinstance(event, FinalAnswer):
        console.print(f"[bold]Answer:[/bold] {escape(event.output)}")


def _summary(result: RunResult) -> str:
    usage = result.usage
    line = (
        f"tokens: {usage.input_tokens} in / {usage.output_tokens} out, "
        f"cost: ${result.cost_usd:.6f}, stop: {result.stop_reason}"
    )
    return line + (f" ({result.error})" if result.error else "")


def _as_json(result: RunResult) -> str:
    payload = {
        "run_id": result.run_id,
        "output": result.output,
        "stop_reason": result.stop_reason,
        "error": result.error,
        "usage": asdict(result.usage),
        "cost_usd": result.cost_usd,
        "steps": [
            {
                "tool_calls": [asdict(c) for c in s.response.message.tool_calls],
                "tool_results": [
                    {"tool": r.tool, "ok": r.ok, "content": r.content} for r in s.tool_results
                ],
                "text": s.response.message.content,
            }
            for s in result.steps
        ],
    }
    return json.dumps(payload, indent=2)


async def _run(agent: Agent, task: str, console: Console | None) -> RunResult:
    async for event in agent.run_stream(task):
        if console is not None:
            _show(console, event)
        if isinstance(event, RunFinished):
            return event.result
    raise AssertionError("run_stream always ends with RunFinished")  # pragma: no cover


def run_command(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="provider:model (default: settings).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="API root of an OpenAI-compatible server.")
    ] = None,
    protocol: Annotated[
        str, typer.Option("--protocol", help="native tool calls, or react text.")
    ] = "native",
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Stop before spending more USD.")
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", help="Most model calls.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the result as JSON.")] = False,
) -> None:
    """Run the agent on TASK with the built-in tools; show each step, then the answer."""
    if protocol not in ("native", "react"):
        raise typer.BadParameter(f"{protocol!r} is not a protocol; use native or react")
    settings = load_settings()
    try:
        chosen = build_model(model or settings.model, base_url or settings.base_url)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    agent = Agent(
        chosen,
        tools=builtin_tools(),
        budget=Budget(max_iterations=max_iterations, max_cost_usd=max_cost),
        protocol="react" if protocol == "react" else "native",
    )
    console = None if as_json else Console(highlight=False)

    async def main() -> RunResult:
        try:
            return await _run(agent, task, console)
        finally:
            aclose = getattr(chosen, "aclose", None)
            if aclose is not None:
                await aclose()

    result = anyio.run(main)
    if as_json:
        typer.echo(_as_json(result))
    else:
        assert console is not None
        if result.stop_reason != "final_answer" and result.output:
            console.print(f"[bold]Partial output:[/bold] {escape(result.output)}")
        console.print(_summary(result))
    if result.stop_reason == "error":
        raise typer.Exit(1)
