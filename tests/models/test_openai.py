from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mainspring.errors import ModelError, ModelHTTPError, ModelResponseError
from mainspring.messages import Message, ToolCall
from mainspring.models import (
    ModelSettings,
    Pricing,
    ResponseDone,
    RetryPolicy,
    ToolCallDelta,
    ToolDefinition,
)
from mainspring.models.openai import OpenAIModel
from mainspring.models.retry import parse_retry_after
from tests.models._server import Reply, ScriptedServer

FAST = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
Make = Callable[..., OpenAIModel]
USER = [Message("system", "Be brief."), Message("user", "Weather in Oslo and Rome?")]


@pytest.fixture
async def model(server: ScriptedServer) -> AsyncIterator[Callable[..., OpenAIModel]]:
    made: list[OpenAIModel] = []

    def make(server: ScriptedServer, **kw: Any) -> OpenAIModel:
        kw.setdefault("retry", FAST)
        made.append(
            OpenAIModel("gpt-4o-mini", api_key="sk-secret", base_url=server.url + "/v1", **kw)
        )
        return made[-1]

    yield make
    for m in made:
        await m.aclose()


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "x",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def call_json(id: str, name: str, args: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": args}}


async def test_text_reply_with_usage_cost_and_wire_format(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(json=completion({"role": "assistant", "content": "Sunny."})))
    m = model(server, pricing=Pricing(1_000_000.0, 2_000_000.0))
    response = await m.request(USER, [WEATHER], ModelSettings(temperature=0, max_tokens=50))
    assert response.message == Message("assistant", "Sunny.")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 5)
    assert response.usage.cost_usd == pytest.approx(12 + 10)
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-secret"
    assert sent.body["temperature"] == 0 and sent.body["max_tokens"] == 50
    assert sent.body["tools"] == [WEATHER.openai()]
    assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    await m.aclose()
    await m.aclose()


async def test_parallel_tool_calls_and_invalid_arguments_kept_raw(
    server: ScriptedServer, model: Make
) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            call_json("c1", "get_weather", '{"city": "Oslo"}'),
            call_json("c2", "get_weather", '{"city": "Rome"'),  # truncated JSON
        ],
    }
    server.add(Reply(json=completion(message, "tool_calls")))
    response = await model(server).request(USER, [WEATHER])
    assert response.finish_reason == "tool_calls"
    assert response.message.tool_calls == (
        ToolCall("c1", "get_weather", {"city": "Oslo"}),
        ToolCall.from_text("c2", "get_weather", '{"city": "Rome"'),
    )


async def test_tool_round_trip_is_sent_in_openai_shape(server: ScriptedServer, model: Make) -> None:
    server.add(Reply(json=completion({"role": "assistant", "content": "Done"})))
    history = [
        *USER,
        Message("assistant", tool_calls=(ToolCall("c1", "get_weather", {"city": "Oslo"}),)),
        Message("tool", "12C", tool_call_id="c1"),
    ]
    await model(server).request(history, [WEATHER])
    sent = server.requests[0].body["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [call_json("c1", "get_weather", '{"city": "Oslo"}')],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": "12C"}


async def test_429_with_retry_after_is_honoured(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(status=429, json={"error": "slow down"}, headers={"Retry-After": "0.3"}),
        Reply(json=completion({"role": "assistant", "content": "ok"})),
    )
    response = await model(server).request(USER)
    assert response.message.content == "ok"
    first, second = server.requests
    assert second.at - first.at >= 0.29


async def test_500_then_success(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(status=500, raw="boom"),
        Reply(status=503, raw="still"),
        Reply(json=completion({"role": "assistant", "content": "ok"})),
    )
    assert (await model(server).request(USER)).message.content == "ok"
    assert len(server.requests) == 3


async def test_persistent_5xx_raises_http_error_after_retries(
    server: ScriptedServer, model: Make
) -> None:
    server.add(*(Reply(status=502, raw="bad gateway") for _ in range(3)))
    with pytest.raises(ModelHTTPError) as info:
        await model(server).request(USER)
    assert info.value.status == 502
    assert info.value.body == "bad gateway"
    assert "sk-secret" not in str(info.value) and "sk-secret" not in repr(info.value.headers)


async def test_client_errors_are_not_retried(server: ScriptedServer, model: Make) -> None:
    server.add(Reply(status=401, json={"error": {"message": "bad key"}}))
    with pytest.raises(ModelHTTPError, match="check the API key"):
        await model(server).request(USER)
    assert len(server.requests) == 1


async def test_retry_after_longer_than_allowed_fails_at_once(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(status=429, raw="later", headers={"Retry-After": "3600"}))
    with pytest.raises(ModelHTTPError) as info:
        await model(server).request(USER)
    assert info.value.headers["retry-after"] == "3600"


async def test_malformed_json_is_a_response_error(server: ScriptedServer, model: Make) -> None:
    server.add(Reply(raw='{"choices": [ nope'), Reply(json={"no": "choices"}))
    with pytest.raises(ModelResponseError, match="invalid JSON"):
        await model(server).request(USER)
    with pytest.raises(ModelResponseError, match="without choices"):
        await model(server).request(USER)


async def test_connection_refused_is_retried_then_a_model_error() -> None:
    # Nothing listens on this machine's port 9: one retry (a restarting server), not all of them.
    m = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", retry=FAST)
    with pytest.raises(ModelError, match=r"after 2 attempts: connection refused \(is the server"):
        await m.request(USER)


async def test_timeout_is_a_model_error(server: ScriptedServer, model: Make) -> None:
    server.add(Reply(json=completion({"role": "assistant", "content": "late"}), delay=0.6))
    m = model(server, timeout=0.1, retry=RetryPolicy(max_retries=0))
    with pytest.raises(ModelError, match="ReadTimeout"):
        await m.request(USER)


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


async def test_stream_text_then_usage(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(
            sse=[
                chunk({"role": "assistant", "content": "Hel"}),
                chunk({"content": "lo"}),
                chunk({}, "stop"),
                {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
                "[DONE]",
            ]
        )
    )
    deltas = [d async for d in model(server).stream(USER)]
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.message.content == "Hello"
    assert done.response.usage.input_tokens == 9
    assert server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_stream_tool_calls_openai_style_fragments(
    server: ScriptedServer, model: Make
) -> None:
    fn = {"index": 0, "id": "c1", "type": "function",
          "function": {"name": "get_weather", "arguments": ""}}  # fmt: skip
    server.add(
        Reply(
            sse=[
                chunk({"tool_calls": [fn]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Oslo"}'}}]}),
                chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "get_weather",
                                                                            "arguments": "{}"}}]}),
                chunk({}, "tool_calls"),
                "[DONE]",
            ]
        )
    )  # fmt: skip
    deltas = [d async for d in model(server).stream(USER, [WEATHER])]
    assert sum(isinstance(d, ToolCallDelta) for d in deltas) == 4
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.message.tool_calls == (
        ToolCall("c1", "get_weather", {"city": "Oslo"}),
        ToolCall("c2", "get_weather", {}),
    )
    assert done.response.finish_reason == "tool_calls"
    # no usage in the stream: counted with the tokenizer instead
    assert done.response.usage.input_tokens > 0


async def test_stream_tool_calls_llama_cpp_python_style(
    server: ScriptedServer, model: Make
) -> None:
    # llama-cpp-python repeats id and name in every chunk of a call.
    def piece(args: str) -> dict[str, Any]:
        fn = {"name": "get_weather", "arguments": args}
        return chunk(
            {"tool_calls": [{"index": 0, "id": "call_x", "type": "function", "function": fn}]}
        )

    server.add(
        Reply(sse=[piece('{"ci'), piece('ty": '), piece('"Rome"}'), chunk({}, "tool_calls")])
    )
    deltas = [d async for d in model(server).stream(USER, [WEATHER])]
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.message.tool_calls == (
        ToolCall("call_x", "get_weather", {"city": "Rome"}),
    )


async def test_stream_malformed_chunk_is_a_response_error(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(sse=[chunk({"content": "a"}), "{not json"]))
    with pytest.raises(ModelResponseError, match="streamed invalid JSON"):
        async for _ in model(server).stream(USER):
            pass


async def test_stream_retries_a_429_before_the_first_byte(
    server: ScriptedServer, model: Make
) -> None:
    server.add(
        Reply(status=429, raw="busy", headers={"retry-after-ms": "50"}),
        Reply(sse=[chunk({"content": "ok"}), "[DONE]"]),
    )
    deltas = [d async for d in model(server).stream(USER)]
    done = deltas[-1]
    assert isinstance(done, ResponseDone) and done.response.message.content == "ok"


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "nonsense"}) is None
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (parse_retry_after({"retry-after": http_date}) or 0) <= 30


def test_backoff_grows_with_full_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0)
    assert 0.0 <= policy.delay(0, None) <= 1.0
    assert 0.0 <= policy.delay(2, None) <= 4.0
    assert 0.0 <= policy.delay(10, None) <= 4.0
    assert policy.delay(3, 7.5) == 7.5


def test_repr_never_shows_the_key(server: ScriptedServer, model: Make) -> None:
    m = model(server)
    assert "sk-secret" not in repr(m) and "sk-secret" not in repr(m.provider)


async def test_plain_json_answer_to_a_stream_request_is_an_error(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(json=completion({"role": "assistant", "content": "hi"})))
    with pytest.raises(ModelResponseError, match="plain JSON"):
        async for _ in model(server).stream(USER):
            pass
