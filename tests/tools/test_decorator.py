from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import pytest
from pydantic import BaseModel

from mainspring.errors import InvalidArgumentsError, ToolDefinitionError
from mainspring.tools import CallContext, tool, tool_from_schema


class Address(BaseModel):
    city: str
    zip_code: str | None = None


@dataclass
class Point:
    x: int
    y: int


def test_schema_comes_from_hints_and_docstring() -> None:
    @tool
    def book(
        city: str,
        nights: int = 1,
        kind: Literal["hotel", "hostel"] = "hotel",
        guests: list[str] | None = None,
        address: Address | None = None,
        at: Point | None = None,
    ) -> str:
        """Book a room.

        Longer explanation for the model.

        Args:
            city: where to stay
            nights: how many nights
        """
        return city

    assert book.name == "book"
    assert book.description == "Book a room.\n\nLonger explanation for the model."
    props = book.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "where to stay"}
    assert props["nights"] == {"type": "integer", "default": 1, "description": "how many nights"}
    assert props["kind"]["enum"] == ["hotel", "hostel"]
    assert props["guests"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert book.parameters["required"] == ["city"]
    assert book.parameters["additionalProperties"] is False
    assert set(book.parameters["$defs"]) == {"Address", "Point"}
    assert "title" not in props["city"]


def test_async_function_is_marked_async() -> None:
    @tool
    async def ping() -> str:
        """Answer pong."""
        return "pong"

    assert ping.is_async
    assert ping.parameters["properties"] == {}


def test_policy_is_parsed_at_definition_time() -> None:
    @tool(timeout=2.0, rate_limit="5/s", cache_ttl=60, scopes={"math"}, breaker=3)
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    assert add.policy.timeout == 2.0
    assert add.policy.rate_limit is not None and add.policy.rate_limit.limit == 5
    assert add.policy.breaker is not None and add.policy.breaker.failures == 3
    assert add.policy.scopes == frozenset({"math"})


def test_validator_coerces_and_reports_each_bad_field() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert add.validator.validate({"a": "4", "b": 5}) == {"a": 4, "b": 5}
    with pytest.raises(InvalidArgumentsError) as info:
        add.validator.validate({"a": "four", "c": 1})
    message = str(info.value)
    assert "field 'a'" in message and "'four'" in message
    assert "field 'b' is required but missing" in message
    assert "field 'c' is not a parameter" in message


def test_context_parameter_is_hidden_from_the_model() -> None:
    @tool
    def whoami(ctx: CallContext, verbose: bool = False) -> str:
        """Say who calls."""
        return ctx.principal.id

    assert whoami.context_param == "ctx"
    assert list(whoami.parameters["properties"]) == ["verbose"]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def f(x: int) -> int:\n    return x", "no description"),
        ("def f(x) -> int:\n    '''Doc.'''\n    return x", "needs a type hint"),
        ("def f(*xs: int) -> int:\n    '''Doc.'''\n    return 0", "*args"),
    ],
)
def test_bad_functions_fail_with_a_fix(source: str, fragment: str) -> None:
    namespace: dict[str, object] = {}
    exec(source, namespace)
    with pytest.raises(ToolDefinitionError, match=fragment.replace("*", r"\*")):
        tool(cast(Callable[..., Any], namespace["f"]))


def test_bad_names_and_unknown_secrets_are_rejected() -> None:
    def f(x: int) -> int:
        """Doc."""
        return x

    with pytest.raises(ToolDefinitionError, match="1-64 characters"):
        tool(name="has space")(f)
    with pytest.raises(ToolDefinitionError, match="unknown parameters"):
        tool(secrets={"password"})(f)


def test_hash_changes_with_the_definition() -> None:
    def f(x: int) -> int:
        """Doc."""
        return x

    assert tool(f).hash == tool(f).hash
    assert tool(f).hash != tool(description="Other doc.")(f).hash


def test_tool_from_raw_json_schema_validates_with_jsonschema() -> None:
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
        "required": ["q"],
    }
    search = tool_from_schema("search", "Search things.", schema, lambda q, n=1: [q] * n)
    assert search.validator.validate({"q": "x", "n": 2}) == {"q": "x", "n": 2}
    with pytest.raises(InvalidArgumentsError, match="field 'n'"):
        search.validator.validate({"q": "x", "n": 0})
    with pytest.raises(InvalidArgumentsError, match="'q' is a required property"):
        search.validator.validate({})
    with pytest.raises(ToolDefinitionError, match="must describe an object"):
        tool_from_schema("bad", "Bad.", {"type": "string"}, print)
    with pytest.raises(ToolDefinitionError, match="invalid JSON Schema"):
        tool_from_schema("bad", "Bad.", {"type": "object", "properties": 3}, print)


def test_schema_formats() -> None:
    @tool
    def ping() -> str:
        """Pong."""
        return "pong"

    assert ping.schema("openai") == {
        "type": "function",
        "function": {"name": "ping", "description": "Pong.", "parameters": ping.parameters},
    }
    assert ping.schema("anthropic") == {
        "name": "ping",
        "description": "Pong.",
        "input_schema": ping.parameters,
    }


def test_the_same_function_is_described_once_and_tools_stay_independent() -> None:
    from mainspring.tools import decorator

    def shout(text: str) -> str:
        """Repeat the text loudly."""
        return text.upper()

    decorator._definition.cache_clear()
    first = tool(shout)
    second = tool(timeout=5)(shout)
    info = decorator._definition.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert first.parameters == second.parameters
    assert first.policy.timeout is None and second.policy.timeout == 5
    renamed = tool(name="yell")(shout)
    assert renamed.name == "yell" and decorator._definition.cache_info().misses == 2


def test_a_repeated_decoration_shares_one_immutable_tool() -> None:
    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    assert tool(double) is tool(double)
    assert tool(timeout=2.0)(double) is tool(timeout=2.0)(double)
    assert tool(timeout=2.0)(double) is not tool(double)
    assert tool(scopes=["a"])(double).policy.scopes == frozenset({"a"})
