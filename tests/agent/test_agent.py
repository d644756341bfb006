from __future__ import annotations

import anyio
import pytest

from mainspring.agent import (
    Agent,
    Budget,
    BudgetStop,
    FinalAnswer,
    InProcessMemory,
    ModelRequestStarted,
    RunFinished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.errors import ConfigurationError, ModelError
from mainspring.messages import Message, ToolCall
from mainspring.models import Pricing
from mainspring.testing import FakeClock, FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import ToolExecutor, ToolRegistry, tool
from mainspring.tools.builtin import calculator


@tool
def fails(reason: str) -> str:
    """Always fails.

    Args:
        reason: why.
    """
    raise ValueError(f"broken: {reason}")


async def test_native_tool_call_then_answer() -> None:
    with ScriptedModel(
        [tool_calls(("calculator", {"expression": "17 * 23"})), text("17 x 23 = 391")]
    ) as model:
        result = await Agent(model, tools=[calculator]).run("What is 17 times 23?")
    assert result.stop_reason == "final_answer"
    assert result.output == "17 x 23 = 391"
    assert len(result.steps) == 2
    (tool_result,) = result.steps[0].tool_results
    assert tool_result.ok and tool_result.content == "391"
    # the model saw the result as a tool message answering its call
    second = model.requests[1].messages
    assert second[-1] == Message("tool", "391", tool_call_id="call_0", name="calculator")
    assert second[-2].tool_calls[0].name == "calculator"
    assert [t.name for t in model.requests[0].tools] == ["calculator"]
    assert result.usage.input_tokens > 0
    assert result.usage == model_usage_sum(result)
    assert len(result.run_id) == 32


def model_usage_sum(result):  # type: ignore[no-untyped-def]
    total = result.steps[0].response.usage
    for step in result.steps[1:]:
        total = total + step.response.usage
    return total


async def test_tool_errors_and_unknown_tools_are_observations_not_crashes() -> None:
    with ScriptedModel(
        [
            tool_calls(("fails", {"reason": "disk"}), ("teleport", {})),
            text("could not do it"),
        ]
    ) as model:
        result = await Agent(model, tools=[fails, calculator]).run("try")
    assert result.stop_reason == "final_answer"
    broken, unknown = result.steps[0].tool_results
    assert not broken.ok and "broken: disk" in broken.content
    assert unknown.error is not None and unknown.error.kind == "not_found"
    assert "calculator" in unknown.content  # the real tools are listed


async def test_parallel_calls_of_one_turn_run_concurrently() -> None:
    both_started = anyio.Event()
    started = 0

    @tool
    async def meet(name: str) -> str:
        """Wait for the other call.

        Args:
            name: who.
        """
        nonlocal started
        started += 1
        if started == 2:
            both_started.set()
        with anyio.fail_after(5):  # run one after the other, this never returns in time
            await both_started.wait()
        return name

    model = ScriptedModel([tool_calls(("meet", {"name": "a"}), ("meet", {"name": "b"})), "done"])
    result = await Agent(model, tools=[meet]).run("meet")
    assert [r.content for r in result.steps[0].tool_results] == ["a", "b"]


async def test_max_iterations_gives_a_partial_result() -> None:
    def always_call(request: ModelRequest) -> object:
        return tool_calls(("calculator", {"expression": "1 + 1"}), content="still working")

    agent = Agent(FunctionModel(always_call), tools=[calculator], budget=Budget(max_iterations=3))  # type: ignore[arg-type]
    result = await agent.run("loop forever")
    assert result.stop_reason == "max_iterations"
    assert len(result.steps) == 3
    assert result.output == "still working"


async def test_max_tool_calls_stops_before_running_the_excess() -> None:
    model = ScriptedModel(
        [tool_calls(("calculator", {"expression": "1"}), ("calculator", {"expression": "2"}))]
    )
    result = await Agent(model, tools=[calculator], budget=Budget(max_tool_calls=1)).run("x")
    assert result.stop_reason == "max_tool_calls"
    assert result.steps[0].tool_results == ()


async def test_a_prompt_over_the_token_cap_is_never_sent() -> None:
    model = ScriptedModel([])  # any call would fail the test
    result = await Agent(model, budget=Budget(max_tokens=5)).run("a task that is long enough")
    assert result.stop_reason == "max_tokens"
    assert model.requests == []


async def test_reply_is_capped_to_the_tokens_left() -> None:
    model = ScriptedModel(["ok"])
    await Agent(model, budget=Budget(max_tokens=500)).run("hi")
    settings = model.requests[0].settings
    assert settings is not None and settings.max_tokens is not None and settings.max_tokens < 500


async def test_cost_cap_counts_the_prompt_before_sending() -> None:
    pricey = Pricing(input_per_mtok=1_000_000.0, output_per_mtok=0.0)  # $1 per input token
    model = ScriptedModel([tool_calls(("calculator", {"expression": "2"}))], pricing=pricey)
    agent = Agent(model, tools=[calculator], budget=Budget(max_cost_usd=150.0))
    result = await agent.run("what is 2")
    # the first prompt fits; the second (first + the tool turn) would break the cap
    assert result.stop_reason == "max_cost"
    assert len(model.requests) == 1
    assert 0 < result.cost_usd <= 150.0


async def test_max_seconds_with_a_fake_clock() -> None:
    clock = FakeClock()

    @tool
    def slow() -> str:
        """Takes a minute."""
        clock.advance(60)
        return "done"

    model = ScriptedModel([tool_calls(("slow", {}))])
    agent = Agent(model, tools=[slow], budget=Budget(max_seconds=30), clock=clock)
    result = await agent.run("go")
    assert result.stop_reason == "max_seconds"


async def test_model_errors_end_the_run_with_error() -> None:
    def broken(request: ModelRequest) -> str:
        raise ModelError("HTTP 503 from 'openai:x': overloaded")

    result = await Agent(FunctionModel(broken)).run("hi")
    assert result.stop_reason == "error"
    assert result.error is not None and "overloaded" in result.error


async def test_unexpected_scripted_call_is_not_swallowed() -> None:
    model = ScriptedModel([tool_calls(("calculator", {"expression": "1"}))])
    with pytest.raises(AssertionError, match="script is exhausted"):
        await Agent(model, tools=[calculator]).run("x")


async def test_run_stream_yields_typed_events_in_order() -> None:
    model = ScriptedModel([tool_calls(("calculator", {"expression": "6*7"})), text("42")])
    events = [e async for e in Agent(model, tools=[calculator]).run_stream("6 times 7?")]
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "ModelRequestStarted",
        "ToolCallStarted",
        "ToolCallFinished",
        "ModelRequestStarted",
        "TextDelta",
        "FinalAnswer",
        "RunFinished",
    ]
    finished = events[2]
    assert isinstance(finished, ToolCallFinished) and finished.result.content == "42"
    assert isinstance(events[4], TextDelta) and events[4].text == "42"
    assert isinstance(events[-1], RunFinished) and events[-1].result.output == "42"
    assert isinstance(events[0], ModelRequestStarted) and isinstance(events[1], ToolCallStarted)
    assert isinstance(events[5], FinalAnswer)


async def test_budget_stop_is_an_event() -> None:
    events = [
        e async for e in Agent(ScriptedModel([]), budget=Budget(max_iterations=0)).run_stream("x")
    ]
    assert events[0] == BudgetStop(0, "max_iterations")


def test_run_sync() -> None:
    result = Agent(ScriptedModel(["hello"])).run_sync("greet")
    assert result.output == "hello"


async def test_run_sync_inside_a_loop_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="await agent.run"):
        Agent(ScriptedModel([])).run_sync("x")


async def test_react_protocol_runs_tools_from_text() -> None:
    model = ScriptedModel(
        [
            'Thought: multiply\nAction: calculator\nAction Input: {"expression": "17*23"}',
            "Thought: done\nFinal Answer: 391",
        ]
    )
    result = await Agent(model, tools=[calculator], protocol="react").run("17 times 23?")
    assert result.output == "391"
    first, second = model.requests
    assert first.tools == ()  # tools are in the prompt, not offered natively
    assert "calculator: " in first.messages[0].content
    assert first.settings is not None and "\nObservation:" in first.settings.stop
    assert second.messages[-1] == Message("user", "Observation: 391")


async def test_react_plain_text_input_for_one_argument_tools() -> None:
    model = ScriptedModel(["Action: calculator\nAction Input: 2 + 2", "Final Answer: 4"])
    result = await Agent(model, tools=[calculator], protocol="react").run("2+2")
    assert result.steps[0].tool_results[0].content == "4"


async def test_memory_records_the_run_and_feeds_the_next() -> None:
    memory = InProcessMemory()
    model = ScriptedModel([tool_calls(("calculator", {"expression": "2*21"})), "42", "still 42"])
    agent = Agent(model, tools=[calculator], memory=memory)
    await agent.run("What is 2 times 21?")
    assert list(memory.entries) == [
        "user: What is 2 times 21?",
        "tool: calculator: 42",
        "assistant: 42",
    ]
    await agent.run("And again?")
    context = model.requests[-1].messages[1]
    assert context.role == "system" and "assistant: 42" in context.content
    model.assert_done()


async def test_accepts_a_configured_executor_and_rejects_bad_protocols() -> None:
    executor = ToolExecutor(ToolRegistry([calculator]))
    assert Agent(ScriptedModel([]), tools=executor).executor is executor
    with pytest.raises(ConfigurationError, match="protocol"):
        Agent(ScriptedModel([]), protocol="xml")  # type: ignore[arg-type]


@pytest.mark.slow
async def test_end_to_end_on_the_local_model() -> None:
    agent = Agent("local:smollm2", tools=[calculator])
    result = await agent.run("What is 17 times 23?")
    call = result.steps[0].response.message.tool_calls[0]
    assert call == ToolCall(call.id, "calculator", call.arguments)
    assert result.steps[0].tool_results[0].content == "391"
    assert result.stop_reason == "final_answer"
    assert "391" in result.output


async def test_tools_the_principal_may_not_use_are_not_offered() -> None:
    from mainspring.tools import Principal

    @tool(scopes={"admin"})
    def purge() -> str:
        """Purge everything."""
        return "purged"

    model = ScriptedModel(["fine", "fine"])
    await Agent(model, tools=[purge, calculator]).run("x")
    assert [t.name for t in model.requests[0].tools] == ["calculator"]
    admin = Principal("root", frozenset({"admin"}))
    await Agent(model, tools=[purge, calculator], principal=admin).run("x")
    assert [t.name for t in model.requests[1].tools] == ["purge", "calculator"]
