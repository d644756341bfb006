"""Structured output degrades (json_schema, json_object, prompted), validates, and remembers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mainspring.errors import ModelHTTPError
from mainspring.messages import Message, ToolCall
from mainspring.models import ModelSettings, ResponseDone, RetryPolicy, ToolDefinition
from mainspring.models.openai import OpenAIModel
from mainspring.planning import Planner
from tests.models._server import Reply, ScriptedServer

FAST = RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.02)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
ASK = ModelSettings(response_schema=SCHEMA)
USER = [Message("system", "You plan trips."), Message("user", "Three days in Oslo?")]
Make = Callable[..., OpenAIModel]

# What llama-cpp-python's server answers when `response_format.type` is not text/json_object.
LLAMA_500 = (
    '{"error":{"message":"1 validation error: Input should be \'text\' or \'json_object\'",'
    '"type":"internal_server_error"}}'
)


def llama_cpp_python(body: Any) -> Reply | None:
    kind = ((body or {}).get("response_format") or {}).get("type", "text")
    return None if kind in ("text", "json_object") else Reply(status=500, raw=LLAMA_500)


def no_response_format(body: Any) -> Reply | None:
    if (body or {}).get("response_format"):
        return Reply(status=400, json={"error": "unknown field response_format"})
    return None


def completion(content: str, *, calls: list[Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {
        "choices": [{"message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4},
    }


@pytest.fixture
async def model(server: ScriptedServer) -> AsyncIterator[Make]:
    made: list[OpenAIModel] = []

    def make(**kw: Any) -> OpenAIModel:
        kw.setdefault("retry", FAST)
        made.append(OpenAIModel("smollm2", base_url=server.url + "/v1", **kw))
        return made[-1]

    yield make
    for m in made:
        await m.aclose()


def formats(server: ScriptedServer) -> list[str | None]:
    return [(r.body.get("response_format") or {}).get("type") for r in server.requests]


async def test_a_server_refusing_json_schema_gets_json_object_and_it_is_remembered(
    server: ScriptedServer, model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    server.refuse = llama_cpp_python
    server.add(
        Reply(json=completion('{"city": "Oslo", "days": 3}')),
        Reply(json=completion('{"city": "Rome", "days": 2}')),
    )
    m = model()
    with caplog.at_level(logging.WARNING, "mainspring.models"):
        first = await m.request(USER, settings=ASK)
    assert json.loads(first.message.content) == {"city": "Oslo", "days": 3}
    # json_schema, its one retry (the same 500 twice is the server's answer), then json_object.
    assert formats(server) == ["json_schema", "json_schema", "json_object"]
    sent = server.requests[-1].body
    assert sent["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert "JSON Schema" in sent["messages"][0]["content"]
    assert sent["messages"][0]["content"].startswith("You plan trips.")
    assert m.provider.output_modes == {"smollm2": "json_object"}
    assert any("refused structured output as json_schema (HTTP 500)" in r.getMessage()
               for r in caplog.records)  # fmt: skip

    server.requests.clear()
    second = await m.request(USER, settings=ASK)
    assert json.loads(second.message.content)["city"] == "Rome"
    assert formats(server) == ["json_object"]  # no second probe for this endpoint


async def test_no_response_format_at_all_means_the_schema_goes_in_the_prompt(
    server: ScriptedServer, model: Make
) -> None:
    server.refuse = no_response_format
    reply = 'Sure! Here it is:\n```json\n{"city": "Oslo", "days": 3}\n```\nEnjoy.'
    server.add(Reply(json=completion(reply)))
    m = model()
    response = await m.request([Message("user", "Three days in Oslo?")], settings=ASK)
    assert response.message.content == '{"city": "Oslo", "days": 3}'  # unwrapped from the prose
    assert formats(server) == ["json_schema", "json_object", None]
    prompt = server.requests[-1].body["messages"]
    assert prompt[0]["role"] == "system" and "JSON Schema" in prompt[0]["content"]
    assert m.provider.output_modes == {"smollm2": "prompted"}


async def test_a_reply_that_does_not_match_is_sent_back_once(
    server: ScriptedServer, model: Make
) -> None:
    server.add(
        Reply(json=completion('{"city": "Oslo", "days": "three"}')),
        Reply(json=completion('{"city": "Oslo", "days": 3}')),
    )
    response = await model().request(USER, settings=ASK)
    assert json.loads(response.message.content) == {"city": "Oslo", "days": 3}
    assert response.usage.input_tokens == 20 and response.usage.output_tokens == 8
    repair = server.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"city": "Oslo", "days": "three"}'}
    assert "at days: 'three' is not of type 'integer'" in repair[-1]["content"]


async def test_a_reply_still_wrong_after_the_repair_is_returned_as_it_is(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(json=completion("no idea")), Reply(json=completion("still no idea")))
    response = await model().request(USER, settings=ASK)
    assert response.message.content == "still no idea"
    assert len(server.requests) == 2


async def test_tool_calls_are_not_held_to_the_schema(server: ScriptedServer, model: Make) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    server.add(Reply(json=completion("", calls=[call])))
    tools = [ToolDefinition("lookup", "Look up.", {"type": "object", "properties": {}})]
    response = await model().request(USER, tools, ASK)
    assert response.message.tool_calls == (ToolCall("c1", "lookup", {}),)
    assert len(server.requests) == 1


async def test_errors_that_are_not_about_the_format_do_not_degrade(
    server: ScriptedServer, model: Make
) -> None:
    server.add(Reply(status=401, json={"error": "bad key"}))
    m = model()
    with pytest.raises(ModelHTTPError, match="HTTP 401"):
        await m.request(USER, settings=ASK)
    assert len(server.requests) == 1 and m.provider.output_modes == {}


async def test_a_stream_degrades_before_its_first_byte(server: ScriptedServer, model: Make) -> None:
    server.refuse = llama_cpp_python
    chunk = {"choices": [{"index": 0, "delta": {"content": '{"city": "Oslo", "days": 3}'}}]}
    server.add(Reply(sse=[chunk, "[DONE]"]))
    m = model(stream_usage=False)
    deltas = [d async for d in m.stream(USER, settings=ASK)]
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    assert json.loads(done.response.message.content) == {"city": "Oslo", "days": 3}
    assert formats(server)[-1] == "json_object"
    assert m.provider.output_modes == {"smollm2": "json_object"}


async def test_the_planner_plans_on_a_server_without_json_schema(
    server: ScriptedServer, model: Make
) -> None:
    server.refuse = llama_cpp_python
    plan = {"steps": [{"id": "s1", "description": "find flights", "depends_on": []},
                      {"id": "s2", "description": "book", "depends_on": ["s1"]}]}  # fmt: skip
    server.add(Reply(json=completion(json.dumps(plan))))
    outcome = await Planner(model()).plan("Book a trip to Oslo")
    assert [step.id for step in outcome.plan.steps] == ["s1", "s2"]
    assert outcome.attempts == 1


async def test_the_repair_carries_the_instruction_once(server: ScriptedServer, model: Make) -> None:
    server.refuse = llama_cpp_python
    server.add(
        Reply(json=completion('{"city": "Oslo"}')),
        Reply(json=completion('{"city": "Oslo", "days": 3}')),
    )
    response = await model().request(USER, settings=ASK)
    assert json.loads(response.message.content)["days"] == 3
    repair = server.requests[-1].body["messages"]
    assert sum("JSON Schema" in m["content"] for m in repair) == 1
    assert "'days' is a required property" in repair[-1]["content"]


async def test_a_reply_cut_at_max_tokens_is_not_repaired(
    server: ScriptedServer, model: Make
) -> None:
    cut = completion('{"city": "Os')
    cut["choices"][0]["finish_reason"] = "length"
    server.add(Reply(json=cut))
    response = await model().request(USER, settings=ASK)
    assert response.finish_reason == "length" and response.message.content == '{"city": "Os'
    assert len(server.requests) == 1
