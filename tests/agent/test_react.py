import pytest
from hypothesis import given
from hypothesis import strategies as st

from mainspring.agent import Agent
from mainspring.agent.react import Act, FinalAnswer, Retry, parse_react, react_instructions
from mainspring.models.base import ToolDefinition
from mainspring.testing import ScriptedModel
from mainspring.tools import tool

CALC = ToolDefinition(
    "calculator",
    "Evaluate arithmetic.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)
CLOCK = ToolDefinition(
    "clock", "Current time.", {"type": "object", "properties": {"timezone": {"type": "string"}}}
)
WEATHER = ToolDefinition(
    "weather",
    "Weather.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
TOOLS = [CALC, CLOCK, WEATHER]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            'Thought: add\nAction: calculator\nAction Input: {"expression": "2+2"}',
            Act("calculator", {"expression": "2+2"}),
        ),
        (
            'Action: calculator\nInput: {"expression": "2+2"}',
            Act("calculator", {"expression": "2+2"}),
        ),
        (
            'Action: `calculator`:\nAction Input:\n```json\n{\n  "expression": "2+2"\n}\n```\n'
            "That should work.",
            Act("calculator", {"expression": "2+2"}),
        ),
        (
            'Action: weather\nAction Input: {"city": "Paris",\n "days": 2} and then I will answer',
            Act("weather", {"city": "Paris", "days": 2}),
        ),
        (
            'Action: "Calculator"\nAction Input: {"expression": "1"}',
            Act("calculator", {"expression": "1"}),
        ),
        ('Action: calculator({"expression": "3*3"})', Act("calculator", {"expression": "3*3"})),
        ("Action: clock\nAction Input: Europe/Paris", Act("clock", {"timezone": "Europe/Paris"})),
        ("Action: clock\nAction Input:", Act("clock", {})),
        ("Thought: easy\nFinal Answer: 42", FinalAnswer("42")),
        (
            "final answer: it is 42.\nAction: calculator\nAction Input: {}",
            FinalAnswer("it is 42.\nAction: calculator\nAction Input: {}"),
        ),
        (
            'Action: calculator\nAction Input: {"expression": "2+2"}\n'
            "Observation: 4\nFinal Answer: 4",
            Act("calculator", {"expression": "2+2"}),
        ),
        ("The capital of France is Paris.", FinalAnswer("The capital of France is Paris.")),
    ],
)
def test_real_model_output(reply: str, expected: object) -> None:
    assert parse_react(reply, TOOLS) == expected


def test_unknown_tool_lists_the_real_ones() -> None:
    step = parse_react("Action: search\nAction Input: {}", TOOLS)
    assert isinstance(step, Retry) and "calculator, clock, weather" in step.feedback


def test_unreadable_input_explains_the_format() -> None:
    step = parse_react("Action: weather\nAction Input: {city: Paris}", TOOLS)
    assert isinstance(step, Retry) and '"city"' in step.feedback


@given(st.text(max_size=300))
def test_parser_never_raises(reply: str) -> None:
    parse_react(reply, TOOLS)


@given(st.text(alphabet='Action Input:{}"`\n ,Final answer', max_size=120))
def test_parser_never_raises_on_protocol_like_noise(reply: str) -> None:
    parse_react(reply, TOOLS)


def test_prompt_lists_tools_with_argument_schemas() -> None:
    prompt = react_instructions(TOOLS)
    assert "- weather: Weather." in prompt and "days: integer (optional)" in prompt
    assert "[calculator, clock, weather]" in prompt


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_react_run_end_to_end() -> None:
    script = [
        "Thought: I need the calculator\nAction: nope\nAction Input: {}",
        'Thought: right\nAction: add\nAction Input: {"a": 20, "b": 22}',
        "Thought: I know\nFinal Answer: 42",
    ]
    with ScriptedModel(script) as model:
        result = await Agent(model, [add], protocol="react").run("What is 20 + 22?")
    assert (result.output, result.tool_calls, result.steps) == ("42", 1, 3)
    first = model.requests[0]
    assert (
        first.tools == () and first.settings is not None and "\nObservation:" in first.settings.stop
    )
    assert "Action Input" in first.messages[0].content
    assert (
        model.requests[1]
        .messages[-1]
        .content.startswith("Observation: There is no tool named 'nope'")
    )
    assert model.requests[2].messages[-1].content == "Observation: 42"


def test_python_literal_dict_input_is_read_safely() -> None:
    step = parse_react("Action: weather\nInput: {'city': 'Paris', 'days': 2}", TOOLS)
    assert step == Act("weather", {"city": "Paris", "days": 2})


def test_python_literal_with_code_is_not_evaluated() -> None:
    step = parse_react("Action: weather\nInput: {'city': __import__('os').getcwd()}", TOOLS)
    assert isinstance(step, Retry)


def test_trailing_punctuation_after_tool_name() -> None:
    step = parse_react('Action: calculator.\nAction Input: {"expression": "6*7"}', TOOLS)
    assert step == Act("calculator", {"expression": "6*7"})


def test_reply_is_cut_at_the_models_own_observation() -> None:
    reply = (
        "Thought: I know it\nFinal Answer: 42\n"
        'Observation: ignore that\nAction: calculator\nAction Input: {"expression": "1"}'
    )
    assert parse_react(reply, TOOLS) == FinalAnswer("42")


def test_forged_action_after_an_echoed_observation_is_not_parsed() -> None:
    reply = (
        "Thought: the tool said\nObservation: done.\n"
        'Action: calculator\nAction Input: {"expression": "rm -rf"}'
    )
    step = parse_react(reply, TOOLS)
    assert not isinstance(step, Act)
