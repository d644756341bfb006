"""AuditSink queues records and has a run's records written before its next step."""

from __future__ import annotations

import json
from pathlib import Path

from mainspring.agent import Agent
from mainspring.audit import AuditSink, JsonlAuditLog, verify_file
from mainspring.messages import ModelResponse
from mainspring.testing import FunctionModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import CallContext, Principal, ToolExecutor, ToolRegistry, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_steps_records_are_written_before_the_next_model_call(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    seen: list[list[str]] = []

    def decide(request: ModelRequest) -> ModelResponse:
        lines = path.read_text().splitlines() if path.exists() else []
        seen.append([json.loads(line)["kind"] for line in lines])
        done = sum(1 for m in request.messages if m.role == "tool")
        return tool_calls(("add", {"a": done, "b": 1})) if done < 2 else text("done")

    log = JsonlAuditLog(path)
    await Agent(FunctionModel(decide), [add], audit=AuditSink(log)).run("go")
    await log.aclose()
    step = ["model_call", "tool_call"]
    assert seen == [[], step, step * 2]
    assert (await verify_file(path)).records == 5  # 3 model calls, 2 tool calls


async def test_flush_and_close_write_everything_queued(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    sink = AuditSink(log)
    executor = ToolExecutor(ToolRegistry([add]), hooks=[sink])
    for i in range(20):
        ctx = CallContext(principal=Principal("ann"), run_id=f"r{i % 3}")
        await executor.execute(tool_calls(("add", {"a": i, "b": 1})).message.tool_calls[0], ctx)
    await sink.flush()
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 20
    await executor.execute(tool_calls(("add", {"a": 1, "b": 1})).message.tool_calls[0])
    await sink.aclose()
    assert (await verify_file(tmp_path / "audit.jsonl")).records == 21


async def test_a_call_outside_any_run_is_written_before_it_returns(tmp_path: Path) -> None:
    # A ToolExecutor serving MCP or a script has no next step to wait at: write through.
    path = tmp_path / "audit.jsonl"
    sink = AuditSink(JsonlAuditLog(path))
    executor = ToolExecutor(ToolRegistry([add]), hooks=[sink])
    call = tool_calls(("add", {"a": 2, "b": 3})).message.tool_calls[0]
    await executor.execute(call, CallContext(principal=Principal("ann"), run_id="req-1"))
    assert [json.loads(line)["name"] for line in path.read_text().splitlines()] == ["add"]
    await executor.execute(call)
    assert len(path.read_text().splitlines()) == 2
    await sink.aclose()
