from pathlib import Path

import pytest

from mainspring.agent import Agent
from mainspring.errors import ConfigurationError
from mainspring.messages import ToolCall, ToolResult
from mainspring.runs import ModelCalled, RunInfo, SqliteRunStore, ToolFinished, ToolStarted
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import tool

executions: dict[str, int] = {}


@tool
def send_email(to: str) -> str:
    """Send an email (a side effect: never repeat blindly)."""
    executions["send_email"] = executions.get("send_email", 0) + 1
    return f"sent to {to}"


@tool(idempotent=True)
def lookup(key: str) -> str:
    """Read a value (safe to repeat)."""
    executions["lookup"] = executions.get("lookup", 0) + 1
    return f"value of {key}"


@pytest.fixture
async def store(tmp_path: Path) -> SqliteRunStore:
    executions.clear()
    return SqliteRunStore(tmp_path / "runs.db")


CALL = ToolCall("call_0", "send_email", {"to": "bob"})


async def crashed_run(store: SqliteRunStore, call: ToolCall, *, finished: bool) -> None:
    """What a process killed after step 1's tool call started (or finished) leaves behind."""
    await store.create(RunInfo(run_id="r1", task="email bob"))
    events: list[ModelCalled | ToolStarted | ToolFinished] = [
        ModelCalled(1, tool_calls(call)),
        ToolStarted(1, call, idempotency_key=f"r1:1:{call.id}"),
    ]
    if finished:
        events.append(
            ToolFinished(1, ToolResult(call.id, True, f"recorded {call.name}", tool=call.name))
        )
    await store.append("r1", events)


async def test_a_recorded_run_and_its_events(store: SqliteRunStore) -> None:
    model = ScriptedModel([tool_calls(("lookup", {"key": "k"})), text("done")])
    result = await Agent(model, [lookup], run_store=store).run("look it up", run_id="r0")
    record = await store.load("r0")
    assert [type(e) for e in record.events] == [ModelCalled, ToolStarted, ToolFinished, ModelCalled]
    assert record.info.status == "completed" and record.info.output == "done"
    assert record.info.steps == 2 and record.info.usage == result.usage
    again = await Agent(ScriptedModel([]), [lookup], run_store=store).resume("r0")
    assert again.output == "done" and again.stop_reason == "final_answer"


async def test_completed_calls_are_never_repeated(store: SqliteRunStore) -> None:
    await crashed_run(store, CALL, finished=True)
    with ScriptedModel([text("Email sent.")]) as model:  # only step 2 may reach the model
        result = await Agent(model, [send_email], run_store=store).resume("r1")
    assert result.output == "Email sent." and result.steps == 2
    assert executions == {}
    assert model.requests[0].messages[-1].content == "recorded send_email"
    assert (await store.load("r1")).info.status == "completed"


async def test_interrupted_non_idempotent_call_needs_attention(store: SqliteRunStore) -> None:
    await crashed_run(store, CALL, finished=False)
    result = await Agent(ScriptedModel([]), [send_email], run_store=store).resume("r1")
    assert result.stop_reason == "needs_attention" and executions == {}
    assert result.error is not None and "not idempotent" in result.error
    info = (await store.load("r1")).info
    assert info.status == "needs_attention" and info.note == result.error


async def test_interrupted_idempotent_call_is_retried_once(store: SqliteRunStore) -> None:
    call = ToolCall("call_0", "lookup", {"key": "k"})
    await crashed_run(store, call, finished=False)
    with ScriptedModel([text("found it")]) as model:
        result = await Agent(model, [lookup], run_store=store).resume("r1")
    assert result.output == "found it" and executions == {"lookup": 1}
    assert model.requests[0].messages[-1].content == "value of k"


async def test_resume_needs_a_store_and_a_known_run(store: SqliteRunStore) -> None:
    with pytest.raises(ConfigurationError, match="run_store"):
        await Agent(ScriptedModel([])).resume("r1")
    from mainspring.errors import RunNotFoundError

    with pytest.raises(RunNotFoundError):
        await Agent(ScriptedModel([]), run_store=store).resume("nope")
