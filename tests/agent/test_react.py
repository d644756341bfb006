from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mainspring.agent.react import (
    ReactAction,
    ReactFinal,
    coerce_arguments,
    observation,
    parse_react,
    react_prompt,
)
from mainspring.messages import ToolError, ToolResult
from mainspring.models import ToolDefinition

TOOLS = ["calculator", "get_weather"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Thought: multiply\nAction: calculator\nAction Input: {"expression": "17*23"}',
            ReactAction("calculator", {"expression": "17*23"}, "multiply"),
        ),
        (
            'Action: calculator\nInput: {"expression": "1+1"}',
            ReactAction("calculator", {"expression": "1+1"}),
        ),
        (
            'Action: `calculator`\nAction Input:\n```json\n{\n  "expression": "2*3"\n}\n```\n',
            ReactAction("calculator", {"expression": "2*3"}),
        ),
        (
            'Action: calculator:\nAction Input: {"expression": "2"} I will now wait.',
            ReactAction("calculator", {"expression": "2"}),
        ),
        (
            'Action: Get_Weather()\nAction Input: {"city": "Oslo"}',
            ReactAction("get_weather", {"city": "Oslo"}),
        ),
        (
            'Action: get_weather\nAction Input: {"city": "Oslo"}\nObservation: 20C\n'
            "Final Answer: It is 20C.",
            ReactAction("get_weather", {"city": "Oslo"}),
        ),
        (
            'Final Answer: 391\nAction: calculator\nAction Input: {"expression": "1"}',
            ReactFinal("391"),
        ),
        ("Thought: easy\nFinal Answer: Paris.", ReactFinal("Paris.", "easy")),
        ("The answer is 42.", ReactFinal("The answer is 42.")),
        ("Thought: it is 42", ReactFinal("it is 42")),
        ("Action: calculator\nAction Input: 17 * 23", ReactAction("calculator", "17 * 23")),
        ('Action: calculator {"expression": "4"}', ReactAction("calculator", {"expression": "4"})),
        ("Action: teleport\nAction Input: {}", ReactAction("teleport", {})),
        ("Action:", ReactAction("", "")),
    ],
)
def test_parses_real_model_output(text: str, expected: ReactAction | ReactFinal) -> None:
    assert parse_react(text, TOOLS) == expected


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(parse_react(text, TOOLS), ReactAction | ReactFinal)


keywords = st.sampled_from(
    ["Thought:", "Action:", "Action Input:", "Input:", "Final Answer:", "Observation:", "```",
     "```json", "{", "}", '"', "\n", " ", "calculator", "`", ":", '{"a": 1}', "[1]"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(keywords, st.text(max_size=5)), max_size=30))
def test_never_raises_on_protocol_shaped_noise(parts: list[str]) -> None:
    result = parse_react("".join(parts), TOOLS)
    if isinstance(result, ReactAction):
        assert isinstance(result.arguments, dict | str)


def test_one_argument_tools_accept_plain_text_input() -> None:
    calc = ToolDefinition(
        "calculator", "Math.", {"type": "object", "required": ["expression"], "properties": {}}
    )
    assert coerce_arguments("17 * 23", calc) == {"expression": "17 * 23"}
    assert coerce_arguments({"x": 1}, calc) == {"x": 1}
    two = ToolDefinition("t", "", {"required": ["a", "b"]})
    assert coerce_arguments("text", two) == "text"


def test_prompt_lists_tools_with_schemas_and_observations_show_errors() -> None:
    tool = ToolDefinition("calculator", "Math.", {"type": "object"})
    assert 'calculator: Math.\n  arguments (JSON Schema): {"type":"object"}' in react_prompt([tool])
    ok = ToolResult("1", True, "391")
    bad = ToolResult("1", False, "no such tool", error=ToolError("not_found", "no such tool"))
    assert observation(ok) == "Observation: 391"
    assert observation(bad) == "Observation: error (not_found): no such tool"
