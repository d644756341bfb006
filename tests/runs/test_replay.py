from pathlib import Path

from mainspring.agent import Agent, RunFinished
from mainspring.agent.replay import Replay
from mainspring.messages import ModelResponse
from mainspring.runs import SqliteRunStore
from mainspring.testing import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool

calls: list[str] = []


@tool
def price(item: str) -> int:
    """Price of an item."""
    calls.append(item)
    return {"apple": 3, "pear": 4}[item]


async def recorded(tmp_path: Path) -> tuple[Agent, SqliteRunStore]:
    store = SqliteRunStore(tmp_path / "runs.db")
    script = [tool_calls(("price", {"item": "apple"})), text("An apple costs 3.")]
    agent = Agent(ScriptedModel(script), [price], run_store=store)
    await agent.run("How much is an apple?", run_id="r1")
    calls.clear()
    return agent, store


async def test_replay_calls_nothing_and_reproduces_the_run(tmp_path: Path) -> None:
    agent, store = await recorded(tmp_path)
    replay = Replay(await store.load("r1"), agent.config)
    events = [e async for e in replay.events()]
    result = events[-1]
    assert isinstance(result, RunFinished) and result.result.output == "An apple costs 3."
    assert result.result.tool_calls == 1 and result.result.usage.input_tokens > 0
    assert calls == [] and replay.divergences == []
    assert [r.run_id for r in await store.list()] == ["r1"]  # the replay stored nothing


async def test_replay_with_another_model_shows_where_it_diverges(tmp_path: Path) -> None:
    agent, store = await recorded(tmp_path)

    def other(request: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in request.messages):
            return tool_calls(("price", {"item": "pear"}))
        return text("A pear costs 4.")

    model = FunctionModel(other)
    replay = Replay(await store.load("r1"), agent.config, model=model)
    events = [e async for e in replay.events()]
    assert calls == []  # still no tool executed: the pear call has no recorded result
    assert [t.name for t in model.requests[0].tools] == ["price"]
    assert replay.divergences == [
        'step 1: recorded [\'price({"item": "apple"})\'], now [\'price({"item": "pear"})\']',
        "answer: recorded 'An apple costs 3.', now 'A pear costs 4.'",
    ]
    assert isinstance(events[-1], RunFinished)


async def test_same_calls_with_another_model_reuse_recorded_results(tmp_path: Path) -> None:
    agent, store = await recorded(tmp_path)
    model = ScriptedModel([tool_calls(("price", {"item": "apple"})), text("3 dollars.")])
    replay = Replay(await store.load("r1"), agent.config, model=model)
    [e async for e in replay.events()]
    assert calls == []
    assert model.requests[1].messages[-1].content == "3"
    assert replay.divergences == ["answer: recorded 'An apple costs 3.', now '3 dollars.'"]


async def test_replaying_an_unfinished_record_stops_with_an_error(tmp_path: Path) -> None:
    agent, store = await recorded(tmp_path)
    record = await store.load("r1")
    from dataclasses import replace

    truncated = replace(record, events=record.events[:3])
    events = [e async for e in Replay(truncated, agent.config).events()]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.result.stop_reason == "error"
    assert "recorded before it finished" in (finished.result.error or "")
