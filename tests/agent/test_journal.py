"""What the journal has made durable at each point of a step (one commit per step)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mainspring.agent import Agent
from mainspring.audit import AuditSink, JsonlAuditLog
from mainspring.messages import ModelResponse
from mainspring.runs import ModelCalled, RunRecord, SqliteRunStore, ToolFinished, ToolStarted
from mainspring.testing import FunctionModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool


def kinds(record: RunRecord) -> list[tuple[str, int]]:
    return [(e.kind, e.step) for e in record.events]


async def test_a_steps_reply_and_intent_are_stored_before_its_tool_runs(tmp_path: Path) -> None:
    # A separate store on the same file: what another process would find after a kill.
    path = tmp_path / "runs.db"
    seen_by_tool: list[list[tuple[str, int]]] = []
    seen_by_model: list[list[tuple[str, int]]] = []

    @tool
    async def send(n: int) -> str:
        """Send something (not idempotent)."""
        reader = SqliteRunStore(path)
        seen_by_tool.append(kinds(await reader.load("r")))
        await reader.aclose()
        return f"sent {n}"

    async def decide(request: ModelRequest) -> ModelResponse:
        reader = SqliteRunStore(path)
        seen_by_model.append(kinds(await reader.load("r")))
        await reader.aclose()
        done = sum(1 for m in request.messages if m.role == "tool")
        return tool_calls(("send", {"n": done})) if done < 2 else text("done")

    store = SqliteRunStore(path)
    result = await Agent(FunctionModel(decide), [send], run_store=store).run("go", run_id="r")
    assert result.output == "done"
    step1 = [("model_called", 1), ("tool_started", 1)]
    step2 = [("model_called", 2), ("tool_started", 2)]
    # Before a tool runs: its step's reply and its intent, in one commit.
    assert seen_by_tool == [step1, [*step1, ("tool_finished", 1), *step2]]
    # Before the next model call: every result of the step before.
    assert seen_by_model == [
        [],
        [*step1, ("tool_finished", 1)],
        [*step1, ("tool_finished", 1), *step2, ("tool_finished", 2)],
    ]
    final = await store.load("r")
    assert kinds(final)[-1] == ("model_called", 3) and final.info.status == "completed"
    assert isinstance(final.events[0], ModelCalled)
    assert isinstance(final.events[1], ToolStarted) and isinstance(final.events[2], ToolFinished)
    await store.aclose()


async def test_concurrent_runs_with_a_store_and_an_audit_log_keep_every_record(
    tmp_path: Path,
) -> None:
    @tool
    async def noop(x: int) -> int:
        """Return x."""
        await asyncio.sleep(0)
        return x

    def decide(request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if m.role == "tool")
        return tool_calls(("noop", {"x": done})) if done < 3 else text("ok")

    store = SqliteRunStore(tmp_path / "runs.db")
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    agent = Agent(FunctionModel(decide), [noop], run_store=store, audit=AuditSink(log))
    results = await asyncio.gather(*(agent.run("go", run_id=f"r{i}") for i in range(40)))
    assert all(r.output == "ok" for r in results)
    for i in range(40):
        record = await store.load(f"r{i}")
        assert len(record.finished_tools()) == 3 and record.info.status == "completed"
    await store.aclose()
    await log.aclose()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 40 * 7  # 4 model calls + 3 tool calls per run
