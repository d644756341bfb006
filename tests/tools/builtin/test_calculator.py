import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mainspring.errors import InvalidArgumentsError
from mainspring.messages import ToolCall
from mainspring.tools import ToolExecutor, ToolRegistry
from mainspring.tools.builtin import calculator
from mainspring.tools.builtin.calculator import evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("2 ** 10", 1024),
        ("-(3 + 4) * 2", -14),
        ("7 // 2 + 7 % 2", 4),
        ("1 / 4", 0.25),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 3)", 3.142),
        ("max(1, 5, 3)", 5),
        ("2 ** -1", 0.5),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 100000", "too large"),
        ("__import__('os').system('id')", "unsupported element"),
        ("(1).__class__", "unsupported element"),
        ("open('/etc/passwd')", "unsupported element"),
        ("1 / 0", "division by zero"),
        ("2 +", "not an arithmetic expression"),
        ("sqrt(-1)", "cannot compute"),
        ("-" * 60 + "1", "deeper than"),
        ("1+" * 300 + "1", "longer than"),
        ("'a' * 3", "unsupported element"),
        ("lambda: 1", "unsupported element"),
    ],
)
def test_rejections_say_why(expression: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentsError, match=fragment):
        evaluate(expression)


@given(st.text(max_size=80))
def test_never_raises_anything_but_invalid_arguments(text: str) -> None:
    try:
        value = evaluate(text)
    except InvalidArgumentsError:
        return
    assert isinstance(value, int | float)


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_matches_python_on_products(a: int, b: int) -> None:
    assert evaluate(f"({a}) * ({b})") == a * b


async def test_through_the_executor() -> None:
    executor = ToolExecutor(ToolRegistry([calculator]))
    assert (
        await executor.execute(ToolCall("1", "calculator", {"expression": "2*21"}))
    ).content == "42"
    bad = await executor.execute(ToolCall("2", "calculator", {"expression": "9**9**9"}))
    assert bad.error is not None and bad.error.kind == "invalid_arguments"
    assert math.isclose(
        float((await executor.execute(ToolCall("3", "calculator", {"expression": "e"}))).content),
        math.e,
    )
