"""One trace across the agent, our MCP client, the MCP SDK and our MCP server."""

from __future__ import annotations

import socket

import anyio
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mainspring.agent import Agent
from mainspring.mcp import HttpTarget, MCPServerConfig, MCPToolset, StaticKeyVerifier
from mainspring.mcp.server import http_app
from mainspring.telemetry import OpenTelemetryHooks
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import Principal, ToolExecutor, ToolRegistry, tool


@tool
def echo(text: str) -> str:
    """Echo the text."""
    return text


def _global_spans() -> InMemorySpanExporter:
    # The MCP SDK makes its spans with the global tracer provider; it can be set once per process.
    exporter = InMemorySpanExporter()
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


async def test_an_mcp_call_is_one_trace_from_the_agent_to_the_servers_tool() -> None:
    exporter = _global_spans()
    port = _free_port()
    server_executor = ToolExecutor(ToolRegistry([echo]), hooks=[OpenTelemetryHooks()])
    verifier = StaticKeyVerifier({"k1": Principal("client")})
    target = HttpTarget(f"http://127.0.0.1:{port}/mcp", headers={"Authorization": "Bearer k1"})
    app = http_app(server_executor, verifier)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
                await anyio.sleep(0.05)
        async with MCPToolset([MCPServerConfig("remote", target, prefix="r_")]) as toolset:
            registry = ToolRegistry()
            toolset.register(registry)
            script = [tool_calls(("r_echo", {"text": "hi"})), text("ok")]
            with ScriptedModel(script) as model:
                result = await Agent(model, registry, hooks=[OpenTelemetryHooks()]).run("echo hi")
        server.should_exit = True  # a clean stop: uvicorn closes its sockets
    assert result.output == "ok"
    spans = list(exporter.get_finished_spans())
    run = _named(spans, "invoke_agent")
    ours = _named(spans, "execute_tool r_echo")
    sent = _named(spans, "MCP send tools/call echo")
    served = _named(spans, "tools/call echo")
    theirs = _named(spans, "execute_tool echo")
    chain = [run, ours, sent, served, theirs]
    assert {s.context.trace_id for s in chain} == {run.context.trace_id}
    for parent, child in zip(chain, chain[1:], strict=False):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id
