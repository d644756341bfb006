"""`mainspring demo`: the tool runtime at work, every guard exercised for real, no model needed."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated

import anyio
import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

from mainspring.cli.stores import ensure_data_dir
from mainspring.config import load_settings
from mainspring.messages import ToolCall, ToolResult
from mainspring.tools import (
    CallContext,
    JsonlEventSink,
    Principal,
    ToolExecutor,
    ToolRegistry,
    ToolStats,
    tool,
)
from mainspring.tools.builtin import builtin_tools


@tool(rate_limit="3/s")
def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count
    """
    return len(text.split())


@tool(breaker=2, timeout=2.0)
def port_open(port: int) -> bool:
    """Check that a TCP port on this machine accepts connections; fails if it does not.

    Args:
        port: TCP port on 127.0.0.1
    """
    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True


@tool(scopes={"admin"}, requires_approval=True, secrets={"reason"})
def purge_cache(reason: str) -> str:
    """Purge a cache (admin only, needs approval).

    Args:
        reason: why the purge is needed
    """
    return "purged"


def _script() -> list[tuple[str, ToolCall, CallContext]]:
    user = CallContext(principal=Principal("demo-user"), run_id="demo")
    admin = CallContext(
        principal=Principal("demo-admin", frozenset({"admin"})),
        run_id="demo",
        approver=lambda request: request.tool == "purge_cache",
    )
    calls = [
        ("arithmetic", ToolCall("c1", "calculator", {"expression": "17 * 23"}), user),
        (
            "same call again: cached",
            ToolCall.from_text("c2", "calculator", '{"expression": "17 * 23"}'),
            user,
        ),
        ("resource bomb rejected", ToolCall("c3", "calculator", {"expression": "9**9**9"}), user),
        ("time zone", ToolCall("c4", "clock", {"timezone": "Europe/Paris"}), user),
        ("unknown time zone", ToolCall("c5", "clock", {"timezone": "Mars/Olympus"}), user),
        ("malformed JSON", ToolCall.from_text("c6", "word_count", '{"text": '), user),
        ("unknown tool", ToolCall("c7", "weather", {}), user),
        ("missing scope", ToolCall("c8", "purge_cache", {"reason": "stale"}), user),
        ("approved by policy", ToolCall("c9", "purge_cache", {"reason": "stale"}), admin),
    ]
    calls += [
        (f"rate limit 3/s, call {i}", ToolCall(f"r{i}", "word_count", {"text": "a b c"}), user)
        for i in range(1, 5)
    ]
    calls += [
        (f"closed port, call {i}", ToolCall(f"p{i}", "port_open", {"port": 9}), user)
        for i in range(1, 4)
    ]
    return calls


def _outcome(result: ToolResult) -> str:
    if result.ok:
        return "[green]ok[/]" + (" (cached)" if result.cached else "")
    assert result.error is not None
    return f"[red]{result.error.kind}[/]"


async def _calls() -> tuple[list[tuple[str, ToolCall, ToolResult]], list[ToolStats], Path]:
    """Run the script through the guards; the results, the registry's stats, the event log."""
    settings = load_settings()
    if settings.event_log is None:
        ensure_data_dir(settings)
    sink = JsonlEventSink(settings.event_log_path)
    registry = ToolRegistry([*builtin_tools(), word_count, port_open, purge_cache])
    executor = ToolExecutor(registry, sinks=[sink])
    done = [(label, call, await executor.execute(call, ctx)) for label, call, ctx in _script()]
    await executor.aclose()
    return done, list((await registry.stats()).values()), sink.path


def _tables(
    done: list[tuple[str, ToolCall, ToolResult]], stats: list[ToolStats]
) -> tuple[Table, Table]:
    table = Table("step", "tool", "outcome", "content", "ms", title="Tool calls through the guards")
    for label, call, result in done:
        table.add_row(
            label, call.name, _outcome(result), result.content[:60], f"{result.latency_ms:.2f}"
        )
    columns = ("tool", "status", "calls", "errors", "cache hits", "rate limited")
    totals = Table(*columns, "breaker rejected", "p50 ms", "p95 ms", title="registry.stats()")
    for s in stats:
        totals.add_row(
            s.name,
            s.status,
            str(s.calls),
            str(s.errors),
            str(s.cache_hits),
            str(s.rate_limited),
            str(s.breaker_rejected),
            f"{s.p50_ms or 0:.2f}",
            f"{s.p95_ms or 0:.2f}",
        )
    return table, totals


def demo_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run tool calls through every guard and print the results, stats and event log path."""
    done, stats, path = anyio.run(_calls)
    if as_json:
        data = {
            "calls": [
                {"step": label, "tool": call.name, **to_jsonable_python(result)}
                for label, call, result in done
            ],
            "stats": to_jsonable_python(stats),
            "event_log": str(path),
        }
        typer.echo(json.dumps(data, indent=2))
        raise typer.Exit(0)
    console = Console()
    for table in _tables(done, stats):
        console.print(table)
    console.print(f"events written to {path}")
    raise typer.Exit(0)
