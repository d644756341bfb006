"""Nothing lost, nothing raised after the fact: faults become results and records (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mainspring.agent import Agent, ExecutorToolbox
from mainspring.audit import AuditSink, JsonlAuditLog, verify_log
from mainspring.errors import BackendError
from mainspring.messages import Message, ModelResponse, ToolCall
from mainspring.models.base import ToolDefinition
from mainspring.runs import SqliteRunStore
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import Principal, ToolExecutor, ToolRegistry, tool


@tool
def echo(value: str) -> str:
    """Echo a value."""
    return value


@tool
def keep(data: Any) -> str:
    """Keep any data."""
    return "kept"


def _nested(depth: int) -> list[object]:
    root: list[object] = []
    node = root
    for _ in range(depth):
        child: list[object] = []
        node.append(child)
        node = child
    return root


async def _audited(tmp_path: Path, call: ToolCall) -> tuple[bool, list[dict[str, Any]]]:
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    executor = ToolExecutor(ToolRegistry([echo, keep]), hooks=[AuditSink(log)])
    result = await executor.execute(call)
    await log.aclose()
    raw = (tmp_path / "audit.jsonl").read_bytes()
    bodies = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert (await verify_log(JsonlAuditLog(tmp_path / "audit.jsonl").bodies())).ok
    return result.ok, bodies


async def test_a_lone_surrogate_in_arguments_is_escaped_in_the_audit(tmp_path: Path) -> None:
    ok, bodies = await _audited(tmp_path, ToolCall("1", "echo", {"value": "bad \udc80 text"}))
    assert ok and len(bodies) == 1
    assert bodies[0]["arguments"] == {"value": "bad \\udc80 text"}


async def test_data_nested_ten_thousand_deep_is_cut_in_the_audit(tmp_path: Path) -> None:
    _, bodies = await _audited(tmp_path, ToolCall("1", "keep", {"data": _nested(10_000)}))
    assert len(bodies) == 1 and "cut" in json.dumps(bodies[0]["arguments"])


async def test_a_surrogate_in_a_model_reply_is_stored_escaped(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    reply = ModelResponse(Message("assistant", "caf\udce9"))
    result = await Agent(ScriptedModel([reply]), run_store=store).run("x", run_id="r1")
    info = (await store.load("r1")).info
    await store.aclose()
    assert result.ok and info.status == "completed" and info.output == "caf\\udce9"


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (ToolCall.from_text("1", "echo", "[1, 2]"), "got list"),
        (ToolCall.from_text("1", "echo", "7"), "got int"),
        (ToolCall.from_text("1", "echo", "{nope"), "not valid JSON"),
        (ToolCall("1", "echo", [1, 2]), "got list"),  # type: ignore[arg-type]
    ],
)
async def test_arguments_that_are_not_an_object_are_invalid_arguments(
    call: ToolCall, said: str
) -> None:
    result = await ToolExecutor(ToolRegistry([echo])).execute(call)
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert said in result.content


class Crash(BaseException):
    """Stands in for an exception nothing in mainspring handles."""


async def test_a_run_is_never_left_running_by_an_exception(tmp_path: Path) -> None:
    @tool
    def explode() -> str:
        """Explode."""
        raise Crash("boom")

    store = SqliteRunStore(tmp_path / "runs.db")
    agent = Agent(ScriptedModel([tool_calls(("explode", {}))]), [explode], run_store=store)
    with pytest.raises(Crash):
        await agent.run("x", run_id="r1")
    info = (await store.load("r1")).info
    await store.aclose()
    assert info.status == "failed" and "Crash" in (info.note or "")


class DownToolbox(ExecutorToolbox):
    """Tools whose shared state (Redis, say) cannot be reached."""

    async def definitions(self, principal: Principal) -> list[ToolDefinition]:
        raise BackendError("redis at 127.0.0.1:1 is unreachable")


async def test_a_backend_fault_is_a_result_and_a_failed_record(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    toolbox = DownToolbox(ToolExecutor(ToolRegistry([echo])))
    result = await Agent(ScriptedModel([text("x")]), toolbox, run_store=store).run("x", run_id="r1")
    info = (await store.load("r1")).info
    await store.aclose()
    assert result.stop_reason == "error" and "unreachable" in (result.error or "")
    assert info.status == "failed" and "unreachable" in (info.note or "")
