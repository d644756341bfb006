import pytest

from mainspring.errors import ToolDefinitionError
from mainspring.mcp._data import (
    MAX_DESCRIPTION_CHARS,
    clean_description,
    clean_schema,
    model_name,
    neutralise,
)


def test_valid_names_pass_through_with_their_prefix() -> None:
    assert model_name("", "get_time") == "get_time"
    assert model_name("git_", "status") == "git_status"


def test_other_characters_map_deterministically_and_long_names_get_a_hash() -> None:
    assert model_name("", "weird.name with spaces") == "weird_name_with_spaces"
    long_a, long_b = "a" * 70, "a" * 69 + "b"
    mapped_a, mapped_b = model_name("", long_a), model_name("", long_b)
    assert len(mapped_a) == 64 and mapped_a != mapped_b
    assert mapped_a == model_name("", long_a)  # deterministic
    assert model_name("", "über") == "_ber"


def test_invisible_characters_are_shown() -> None:
    assert neutralise("ok\u200bthen\u202e") == "ok<U+200B>then<U+202E>"
    assert neutralise("line\nnext\ttab") == "line\nnext\ttab"
    assert neutralise("café") == "café"


def test_descriptions_are_bounded_and_never_empty() -> None:
    cut = clean_description("x" * (MAX_DESCRIPTION_CHARS + 10), tool="t")
    assert cut.endswith("[description cut by mainspring]")
    assert "gave no description" in clean_description(None, tool="t")


def test_schemas_are_bounded_in_size_and_depth() -> None:
    deep: dict[str, object] = {"type": "object"}
    node = deep
    for _ in range(30):
        child: dict[str, object] = {"type": "object"}
        node["properties"] = {"x": child}
        node = child
    with pytest.raises(ToolDefinitionError, match="deeper"):
        clean_schema(deep, tool="deep")
    huge = {"type": "object", "description": "x" * 70_000}
    with pytest.raises(ToolDefinitionError, match="bytes"):
        clean_schema(huge, tool="huge")
    with pytest.raises(ToolDefinitionError, match="invisible"):
        clean_schema({"type": "object", "properties": {"a\u200b": {}}}, tool="hidden")
    cleaned = clean_schema(
        {"properties": {"a": {"type": "string", "description": "see\u2066this"}}}, tool="ok"
    )
    assert cleaned["type"] == "object"
    assert cleaned["properties"]["a"]["description"] == "see<U+2066>this"
