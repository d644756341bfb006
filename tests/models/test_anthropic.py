from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mainspring.errors import ModelError, ModelHTTPError, ModelResponseError
from mainspring.messages import Message, ToolCall
from mainspring.models import ModelSettings, ResponseDone, RetryPolicy, ToolDefinition
from mainspring.models.anthropic import AnthropicModel
from tests.models._server import Reply, ScriptedServer

FAST = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)
WEATHER = ToolDefinition(
    "get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}}
)
USER = [Message("system", "Be brief."), Message("user", "Weather in Oslo?")]
Make = Callable[..., AnthropicModel]


@pytest.fixture
async def model(server: ScriptedServer) -> AsyncIterator[Make]:
    made: list[AnthropicModel] = []

    def make(**kw: Any) -> AnthropicModel:
        kw.setdefault("retry", FAST)
        made.append(
            AnthropicModel("claude-sonnet-4-5", api_key="sk-ant", base_url=server.url, **kw)
        )
        return made[-1]

    yield make
    for m in made:
        await m.aclose()


def message(content: list[dict[str, Any]], stop: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop,
        "usage": {"input_tokens": 20, "output_tokens": 7},
    }


async def test_tool_use_reply_and_request_shape(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(
            json=message(
                [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather",
                     "input": {"city": "Oslo"}},
                ],
                "tool_use",
            )
        )
    )  # fmt: skip
    history = [
        *USER,
        Message("assistant", tool_calls=(ToolCall("tu_0", "get_weather", {"city": "Rome"}),)),
        Message("tool", "20C", tool_call_id="tu_0"),
    ]
    response = await model().request(
        history, [WEATHER], ModelSettings(tool_choice="required", parallel_tool_calls=False)
    )
    assert response.message.content == "Checking."
    assert response.message.tool_calls == (ToolCall("tu_1", "get_weather", {"city": "Oslo"}),)
    assert response.finish_reason == "tool_calls"
    assert response.usage.input_tokens == 20 and response.usage.cost_usd > 0
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.body
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 4096
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"][0]["input_schema"] == WEATHER.parameters
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "tu_0", "content": "20C"}],
    }


async def test_overloaded_529_then_success(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(status=529, json={"type": "error"}, headers={"retry-after": "0.05"}),
        Reply(json=message([{"type": "text", "text": "hi"}])),
    )
    assert (await model().request(USER)).message.content == "hi"


async def test_bad_request_and_malformed_body(server: ScriptedServer, model: Make) -> None:
    server.add(Reply(status=400, json={"error": "bad"}), Reply(raw="not json at all"))
    with pytest.raises(ModelHTTPError) as info:
        await model().request(USER)
    assert info.value.status == 400
    with pytest.raises(ModelResponseError):
        await model().request(USER)


def sse_events(*events: dict[str, Any]) -> list[Any]:
    return [(e["type"], e) for e in events]


async def test_stream_text_and_tool_use(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(
            sse=sse_events(
                {"type": "message_start", "message": {"usage": {"input_tokens": 15}}},
                {"type": "content_block_start", "index": 0,
                 "content_block": {"type": "text", "text": ""}},
                {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "text_delta", "text": "Let me "}},
                {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "text_delta", "text": "check."}},
                {"type": "content_block_stop", "index": 0},
                {"type": "content_block_start", "index": 1,
                 "content_block": {"type": "tool_use", "id": "tu_9", "name": "get_weather",
                                   "input": {}}},
                {"type": "content_block_delta", "index": 1,
                 "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
                {"type": "content_block_delta", "index": 1,
                 "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}},
                {"type": "content_block_stop", "index": 1},
                {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                 "usage": {"output_tokens": 11}},
                {"type": "message_stop"},
            )
        )
    )  # fmt: skip
    deltas = [d async for d in model().stream(USER, [WEATHER])]
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.message.content == "Let me check."
    assert done.response.message.tool_calls == (ToolCall("tu_9", "get_weather", {"city": "Oslo"}),)
    assert done.response.finish_reason == "tool_calls"
    assert (done.response.usage.input_tokens, done.response.usage.output_tokens) == (15, 11)


async def test_stream_error_event_raises(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(sse=sse_events({"type": "error", "error": {"type": "overloaded_error",
                                                         "message": "Overloaded"}}))
    )  # fmt: skip
    with pytest.raises(ModelError, match="overloaded_error"):
        async for _ in model().stream(USER):
            pass
