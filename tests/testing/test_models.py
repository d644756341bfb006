from __future__ import annotations

import pytest

from mainspring.messages import Message, ToolCall, Usage
from mainspring.models import Pricing, ResponseDone, TextDelta, ToolCallDelta, ToolDefinition
from mainspring.testing import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest

USER = [Message("user", "What is 2 + 3?")]


async def test_scripted_model_replies_in_order_and_records_requests() -> None:
    with ScriptedModel([tool_calls(("add", {"a": 2, "b": 3})), "5"]) as model:
        first = await model.request(USER, [ToolDefinition("add", "Add.")])
        second = await model.request(USER)
    assert first.message.tool_calls == (ToolCall("call_0", "add", {"a": 2, "b": 3}),)
    assert first.finish_reason == "tool_calls"
    assert second.message.content == "5"
    assert [r.tools for r in model.requests] == [(ToolDefinition("add", "Add."),), ()]
    assert first.usage.input_tokens > 0


async def test_scripted_model_fails_on_unexpected_call() -> None:
    model = ScriptedModel(["only one"])
    await model.request(USER)
    with pytest.raises(AssertionError, match="script is exhausted"):
        await model.request(USER)


def test_scripted_model_fails_on_leftover_replies() -> None:
    with pytest.raises(AssertionError, match="1 unused replies"), ScriptedModel(["never asked"]):
        pass


async def test_scripted_usage_is_priced() -> None:
    model = ScriptedModel([text("hi")], pricing=Pricing(1_000_000.0, 0.0))
    response = await model.request(USER)
    assert response.usage.cost_usd == pytest.approx(response.usage.input_tokens)


async def test_explicit_usage_is_kept() -> None:
    from mainspring.messages import ModelResponse

    reply = ModelResponse(Message("assistant", "x"), usage=Usage(1, 2, 0.5))
    assert (await ScriptedModel([reply]).request(USER)).usage == Usage(1, 2, 0.5)


async def test_function_model_sync_and_async_functions() -> None:
    def echo(request: ModelRequest) -> str:
        return request.messages[-1].content.upper()

    async def aecho(request: ModelRequest) -> Message:
        return Message("assistant", request.messages[-1].content[::-1])

    assert (await FunctionModel(echo).request(USER)).message.content == "WHAT IS 2 + 3?"
    assert (await FunctionModel(aecho).request(USER)).message.content == "?3 + 2 si tahW"


async def test_stream_yields_deltas_then_done() -> None:
    model = ScriptedModel([tool_calls(("add", {"a": 1}), content="thinking")])
    deltas = [d async for d in model.stream(USER)]
    assert deltas[0] == TextDelta("thinking")
    assert deltas[1] == ToolCallDelta(0, id="call_0", name="add", arguments='{"a": 1}')
    assert isinstance(deltas[-1], ResponseDone)
    assert deltas[-1].response.message.tool_calls[0].name == "add"
