from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from mainspring.errors import ConfigurationError
from mainspring.messages import Message, ToolCall
from mainspring.models import ModelSettings, ToolDefinition, resolve_model
from mainspring.models.local import (
    ANSWER_TOOL,
    LocalModel,
    _arguments_schema,
    answer_messages,
    bundled_path,
    tool_call_schema,
)
from mainspring.tools import tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather forecast for a city.

    Args:
        city: name of the city.
    """
    return "sunny"


@tool
def calculator(expression: str, precision: int = 2) -> str:
    """Evaluate an arithmetic expression.

    Args:
        expression: the expression, e.g. 2 + 2.
        precision: decimal places.
    """
    return "4"


TOOLS = [ToolDefinition(t.name, t.description, t.parameters) for t in (get_weather, calculator)]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalModel]:
    yield LocalModel("smollm2", n_threads=2)


def test_the_bundled_gguf_ships_with_the_package() -> None:
    assert bundled_path("smollm2").stat().st_size > 50_000_000


def test_any_gguf_path_is_a_local_model() -> None:
    model = resolve_model(f"local:{bundled_path('smollm2')}")
    assert isinstance(model, LocalModel) and model.path == bundled_path("smollm2")


def test_missing_gguf_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such GGUF file"):
        resolve_model(f"local:{tmp_path / 'nope.gguf'}")


def test_argument_schema_keeps_required_fields_and_bounds_strings() -> None:
    schema = _arguments_schema(TOOLS[1])
    assert list(schema["properties"]) == ["expression"]
    assert schema["properties"]["expression"]["maxLength"] == 120
    assert schema["additionalProperties"] is False
    names = [o["properties"]["tool"]["const"] for o in tool_call_schema(TOOLS, True)["oneOf"]]
    assert names == ["get_weather", "calculator", ANSWER_TOOL]


def test_answer_prompt_restates_calls_and_results() -> None:
    history = [
        Message("user", "What is 2+2?"),
        Message("assistant", tool_calls=(ToolCall("c1", "calculator", {"expression": "2+2"}),)),
        Message("tool", "4", tool_call_id="c1"),
    ]
    prompt = answer_messages(history)
    assert 'calculator({"expression": "2+2"}) returned: 4' in prompt[1]["content"]
    assert prompt[1]["content"].startswith("What is 2+2?")


async def test_tool_step_calls_a_real_tool_with_valid_arguments(local: LocalModel) -> None:
    response = await local.request(
        [Message("user", "What is the weather in Paris?")],
        TOOLS,
        ModelSettings(tool_choice="required"),
    )
    (call,) = response.message.tool_calls
    assert response.finish_reason == "tool_calls"
    schema = next(t.parameters for t in TOOLS if t.name == call.name)
    jsonschema.validate(call.arguments, schema)
    assert call == ToolCall(call.id, "get_weather", {"city": "Paris"})
    assert response.usage.input_tokens > 0 and response.usage.cost_usd == 0


async def test_final_answer_step_uses_the_tool_result(local: LocalModel) -> None:
    history = [
        Message("user", "What is 17 times 23?"),
        Message("assistant", tool_calls=(ToolCall("c1", "calculator", {"expression": "17*23"}),)),
        Message("tool", "391", tool_call_id="c1"),
    ]
    response = await local.request(history, TOOLS)
    assert not response.message.tool_calls
    assert "391" in response.message.content


async def test_no_tools_is_plain_chat_and_streams(local: LocalModel) -> None:
    deltas = [d async for d in local.stream([Message("user", "Say hello.")])]
    done = deltas[-1]
    assert type(done).__name__ == "ResponseDone"
    assert done.response.message.content  # type: ignore[union-attr]


def test_tokenizer_is_llama_cpps(local: LocalModel) -> None:
    assert local.tokenizer.name.startswith("llama.cpp:")
    assert local.tokenizer.count("hello world") == 2
    assert local.tokenizer.truncate("hello world again", 2) == "hello world"
