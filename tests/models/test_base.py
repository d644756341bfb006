from __future__ import annotations

import pytest

from mainspring.messages import Message, ToolCall
from mainspring.models import (
    ModelSettings,
    Pricing,
    PromptCounter,
    ToolDefinition,
    count_prompt_tokens,
)
from mainspring.models.base import (
    StreamAssembler,
    TextDelta,
    ToolCallDelta,
    UsageDelta,
    normalise_finish_reason,
    parse_arguments,
)
from mainspring.models.pricing import lookup_pricing
from mainspring.tokens import BPETokenizer


def test_settings_merge_takes_set_fields_of_the_override() -> None:
    base = ModelSettings(temperature=0.2, max_tokens=100, stop=("x",))
    merged = base.merge(ModelSettings(max_tokens=5))
    assert merged == ModelSettings(temperature=0.2, max_tokens=5, stop=("x",))
    assert base.merge(None) is base


def test_tool_definition_round_trips_openai_schema() -> None:
    tool = ToolDefinition("add", "Add numbers.", {"type": "object", "properties": {}})
    assert ToolDefinition.from_openai(tool.openai()) == tool


def test_assembler_does_not_repeat_names_sent_in_every_chunk() -> None:
    # llama-cpp-python's server repeats id and name in each chunk of one call.
    asm = StreamAssembler("m")
    asm.add(ToolCallDelta(0, id="call_1", name="get_weather", arguments='{"ci'))
    asm.add(ToolCallDelta(0, id="call_1", name="get_weather", arguments='ty": "Oslo"}'))
    asm.add(ToolCallDelta(1, id="call_2", name="get_", arguments=""))
    asm.add(ToolCallDelta(1, name="time", arguments="{}"))
    asm.add(TextDelta("ok"))
    response = asm.response()
    assert response.message.tool_calls == (
        ToolCall("call_1", "get_weather", {"city": "Oslo"}),
        ToolCall("call_2", "get_time", {}),
    )
    assert response.message.content == "ok"
    assert response.finish_reason == "tool_calls"


def test_assembler_keeps_usage_and_finish_reason() -> None:
    asm = StreamAssembler("m")
    asm.add(UsageDelta(usage=__import__("mainspring.messages").messages.Usage(3, 4)))
    asm.finish_reason = "length"
    response = asm.response()
    assert response.usage.total_tokens == 7
    assert response.finish_reason == "length"


@pytest.mark.parametrize(
    ("raw", "expected", "problem"),
    [
        ("", {}, None),
        ('{"a": 1}', {"a": 1}, None),
        ("{bad", {}, "not valid JSON"),
        ("[1]", {}, "got list"),
        ("7", {}, "got int"),
    ],
)
def test_argument_text_is_parsed_once_by_tool_call(
    raw: str, expected: dict[str, object], problem: str | None
) -> None:
    # One parser: adapters hand the text over, ToolCall parses it and keeps it beside.
    call = ToolCall("c", "t", parse_arguments(raw))
    assert call.arguments == expected and call.raw_arguments == raw
    assert (call.problem is None) if problem is None else (problem in (call.problem or ""))


def test_finish_reasons_of_both_wire_formats_normalise() -> None:
    assert normalise_finish_reason("tool_use") == "tool_calls"
    assert normalise_finish_reason("max_tokens") == "length"
    assert normalise_finish_reason(None) == "stop"
    assert normalise_finish_reason("weird") == "stop"


def test_prompt_tokens_count_messages_calls_and_tools() -> None:
    tok = BPETokenizer()
    empty = count_prompt_tokens(tok, [])
    one = count_prompt_tokens(tok, [Message("user", "hello world")])
    assert one == empty + 4 + tok.count("hello world")
    tool = ToolDefinition("add", "Add two numbers.", {"type": "object"})
    assert count_prompt_tokens(tok, [], [tool]) > empty
    call = Message("assistant", tool_calls=(ToolCall("1", "add", {"a": 1}),))
    assert count_prompt_tokens(tok, [call]) > empty + 4


def test_pricing_from_the_offline_table() -> None:
    price = lookup_pricing("openai", "gpt-4o-mini")
    assert price is not None
    assert price.input_per_mtok > 0
    assert price.output_per_mtok > price.input_per_mtok
    assert lookup_pricing("openai", "no-such-model-xyz") is None
    assert Pricing(1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)


def test_prompt_counter_agrees_with_a_full_count_as_histories_change() -> None:
    tok = BPETokenizer()
    counter = PromptCounter(tok)
    tools = [ToolDefinition("add", "Add two integers.", {"type": "object"})]
    history = [Message("system", "be brief"), Message("user", "hello there")]
    for turn in range(5):
        assert counter.count(history, tools) == count_prompt_tokens(tok, history, tools)
        call = ToolCall(f"c{turn}", "add", {"a": turn, "b": 1})
        history = [*history, Message("assistant", tool_calls=(call,))]
        history.append(Message("tool", str(turn + 1), tool_call_id=f"c{turn}"))
    shorter = history[:3]  # a different, shorter history (a new run with the same model)
    assert counter.count(shorter) == count_prompt_tokens(tok, shorter)
    edited = [Message("user", "something else entirely"), *history[1:]]
    assert counter.count(edited, tools) == count_prompt_tokens(tok, edited, tools)
