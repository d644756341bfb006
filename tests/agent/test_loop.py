import anyio
import pytest

from mainspring.agent import (
    Agent,
    Budget,
    BudgetStop,
    FinalAnswer,
    ModelRequestStarted,
    ModelResponded,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.errors import ConfigurationError, ModelError
from mainspring.messages import Message, ModelResponse, Usage
from mainspring.models.base import Pricing
from mainspring.testing import FakeClock, FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool
from mainspring.tools.builtin import calculator


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode() -> str:
    """Always fails."""
    raise RuntimeError("kaboom")


async def test_tool_call_then_answer() -> None:
    with ScriptedModel([tool_calls(("add", {"a": 2, "b": 3})), text("The sum is 5.")]) as model:
        result = await Agent(model, [add]).run("What is 2 + 3?")
    assert result.ok and result.output == "The sum is 5."
    assert (result.steps, result.tool_calls, result.stop_reason) == (2, 1, "final_answer")
    assert result.usage.input_tokens > 0 and result.run_id.startswith("run_")
    second_request = model.requests[1].messages
    assert second_request[-1] == Message("tool", "5", tool_call_id="call_0", name="add")
    assert [t.name for t in model.requests[0].tools] == ["add"]


async def test_tool_errors_become_observations() -> None:
    with ScriptedModel([tool_calls(("explode", {})), text("It failed.")]) as model:
        result = await Agent(model, [explode]).run("try it")
    assert result.output == "It failed."
    assert "RuntimeError: kaboom" in model.requests[1].messages[-1].content


async def test_parallel_tool_calls_run_concurrently() -> None:
    running = peak = 0

    @tool
    async def slow(i: int) -> int:
        """Sleep."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1
        return i

    script = [tool_calls(*[("slow", {"i": i}) for i in range(4)]), text("done")]
    with ScriptedModel(script) as model:
        result = await Agent(model, [slow]).run("go")
    assert result.tool_calls == 4 and peak == 4
    assert [m.content for m in model.requests[1].messages[-4:]] == ["0", "1", "2", "3"]


async def test_max_iterations_gives_a_partial_result() -> None:
    model = FunctionModel(lambda r: tool_calls(("add", {"a": 1, "b": 1}), content="thinking"))
    result = await Agent(model, [add], budget=Budget(max_iterations=3)).run("loop forever")
    assert (result.stop_reason, result.steps, result.output) == ("max_iterations", 3, "thinking")
    assert not result.ok


async def test_a_prompt_over_the_token_cap_is_never_sent() -> None:
    model = ScriptedModel([])  # any call would fail the test
    result = await Agent(model, budget=Budget(max_tokens=5)).run("a task longer than five tokens")
    assert result.stop_reason == "max_tokens" and result.steps == 0
    assert model.requests == []


async def test_cost_cap_stops_before_the_call_that_would_break_it() -> None:
    pricing = Pricing(1_000_000.0, 1_000_000.0)  # a dollar per token
    model = FunctionModel(lambda r: tool_calls(("add", {"a": 1, "b": 1})), pricing=pricing)
    result = await Agent(model, [add], budget=Budget(max_cost_usd=100.0)).run("add")
    assert result.stop_reason == "max_cost"
    assert result.cost_usd <= 100.0
    assert len(model.requests) == result.steps


async def test_max_seconds_before_and_during_a_call() -> None:
    clock = FakeClock()

    def tick(request: ModelRequest) -> ModelResponse:
        clock.advance(6)
        return tool_calls(("add", {"a": 1, "b": 2}))

    result = await Agent(
        FunctionModel(tick), [add], budget=Budget(max_seconds=10), clock=clock
    ).run("x")
    assert result.stop_reason == "max_seconds" and result.steps == 2

    async def hang(request: ModelRequest) -> ModelResponse:
        await anyio.sleep(5)
        return text("late")

    result = await Agent(FunctionModel(hang), budget=Budget(max_seconds=0.05)).run("x")
    assert result.stop_reason == "max_seconds"


async def test_max_tool_calls_answers_every_call() -> None:
    script = [tool_calls(("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2}))]
    with ScriptedModel(script) as model:
        result = await Agent(model, [add], budget=Budget(max_tool_calls=1)).run("x")
    assert (result.stop_reason, result.tool_calls) == ("max_tool_calls", 1)
    assert "not run" in result.messages[-1].content


async def test_model_errors_end_the_run_with_error() -> None:
    def fail(request: ModelRequest) -> ModelResponse:
        raise ModelError("HTTP 500 from 'x'")

    result = await Agent(FunctionModel(fail)).run("x")
    assert result.stop_reason == "error" and result.error == "HTTP 500 from 'x'"


async def test_stream_yields_typed_events_in_order() -> None:
    model = ScriptedModel([tool_calls(("add", {"a": 2, "b": 2})), text("4")])
    events = [e async for e in Agent(model, [add]).run_stream("2+2?")]
    kinds = [type(e) for e in events]
    assert kinds == [
        RunStarted,
        ModelRequestStarted,
        ModelResponded,
        ToolCallStarted,
        ToolCallFinished,
        ModelRequestStarted,
        TextDelta,
        ModelResponded,
        FinalAnswer,
        RunFinished,
    ]
    finished = events[4]
    assert isinstance(finished, ToolCallFinished) and finished.result.content == "4"
    assert isinstance(events[-1], RunFinished) and events[-1].result.output == "4"


async def test_budget_stop_event() -> None:
    events = [
        e async for e in Agent(ScriptedModel([]), budget=Budget(max_tokens=1)).run_stream("x")
    ]
    assert any(isinstance(e, BudgetStop) and e.reason == "max_tokens" for e in events)


def test_run_sync() -> None:
    result = Agent(ScriptedModel([text("hi")])).run_sync("hello")
    assert result.output == "hi"


async def test_run_sync_inside_a_loop_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="await agent.run"):
        Agent(ScriptedModel([])).run_sync("x")


async def test_guards_still_apply_inside_the_agent() -> None:
    script = [tool_calls(("calculator", {"expression": "9**9**9"})), text("too big")]
    with ScriptedModel(script) as model:
        await Agent(model, [calculator]).run("compute")
    assert "too large" in model.requests[1].messages[-1].content


async def test_usage_adds_up_and_instructions_lead() -> None:
    replies = [ModelResponse(Message("assistant", "ok"), usage=Usage(7, 3, 0.5))]
    with ScriptedModel(replies) as model:
        result = await Agent(model, instructions="Be brief.").run("hi")
    assert result.usage == Usage(7, 3, 0.5) and result.cost_usd == 0.5
    assert model.requests[0].messages[0] == Message("system", "Be brief.")


async def test_unknown_protocol_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'native' or 'react'"):
        Agent(ScriptedModel([]), protocol="json")  # type: ignore[arg-type]


async def test_a_streamed_tool_call_is_seen_starting_before_it_ends() -> None:
    import anyio

    from mainspring.tools import tool as make_tool

    release = anyio.Event()
    order: list[str] = []

    @make_tool
    async def wait() -> str:
        """Wait until released."""
        await release.wait()
        order.append("tool ended")
        return "released"

    model = ScriptedModel([tool_calls(("wait", {})), text("done")])
    async for event in Agent(model, [wait]).run_stream("go"):
        if isinstance(event, ToolCallStarted):
            order.append("started seen")
            release.set()  # the tool can only end after its start was streamed
    assert order == ["started seen", "tool ended"]
