"""Argument validators: pydantic for typed functions, jsonschema for raw schemas.

Both turn a failure into one `InvalidArgumentsError` whose message names each bad field, what it
expected and what came, because that message is all a model has to correct its next call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic_core import to_json, to_jsonable_python

from mainspring.errors import InvalidArgumentsError

_MAX_SHOWN = 60


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


_SCALARS = (str, int, float, bool, type(None))


def canonical_json(value: Mapping[str, Any]) -> str:
    """Deterministic JSON of keyword arguments: sorted keys at every level, no whitespace."""
    if all(type(v) in _SCALARS for v in value.values()):
        # Fast path for flat arguments: pydantic_core's encoder is ~10x json.dumps.
        return to_json(dict(sorted(value.items()))).decode()
    return json.dumps(
        to_jsonable_python(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _non_finite(value: Any, where: str) -> str | None:
    """The path of the first NaN or infinite float inside `value`, or None.

    Iterative, so arguments nested thousands deep are walked without a `RecursionError`.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return path
        elif isinstance(item, Mapping):
            stack.extend((v, f"{path}.{k}") for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{path}.{i}") for i, v in reversed(list(enumerate(item))))
    return None


def reject_non_finite(arguments: Mapping[str, Any]) -> None:
    """Refuse NaN and Infinity anywhere in the arguments: they are not JSON numbers.

    Python's JSON parser accepts `NaN` and `Infinity`, and a record written with them is rejected
    by every strict JSON reader, so they are stopped here, for every validator.
    """
    for key, value in arguments.items():
        kind = type(value)
        if kind is int or kind is str or kind is bool or value is None:
            continue  # the common flat case, without a call per value
        where = _non_finite(value, str(key))
        if where is None:
            continue
        raise InvalidArgumentsError(
            f"invalid arguments: field {where!r}: NaN and Infinity are not allowed; "
            "send a finite number"
        )


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """One line per problem: which field, what was expected, what came."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "arguments"
        if err["type"] == "missing":
            lines.append(f"field {where!r} is required but missing")
        elif err["type"] == "extra_forbidden":
            lines.append(f"field {where!r} is not a parameter of this tool")
        else:
            lines.append(f"field {where!r}: {err['msg']} (got {_shown(err.get('input'))})")
    return "invalid arguments: " + "; ".join(lines)


class PydanticValidator:
    """Validates against a pydantic model built from the function's signature."""

    __slots__ = ("_model", "_fields")

    def __init__(self, model: type[pydantic.BaseModel]) -> None:
        self._model = model
        self._fields = tuple(model.model_fields)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and return keyword arguments (nested models stay model instances)."""
        try:
            instance = self._model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            raise InvalidArgumentsError(describe_validation_error(exc)) from None
        return {name: getattr(instance, name) for name in self._fields}

    def canonical_json(self, kwargs: Mapping[str, Any]) -> str:
        """Canonical JSON of validated arguments."""
        return canonical_json(kwargs)


class JsonSchemaValidator:
    """Validates against a raw JSON Schema (tools from MCP servers or OpenAPI)."""

    __slots__ = ("_validator",)

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema  # ~50 ms of imports: paid by the first tool with a raw schema only

        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(dict(schema))
        self._validator = validator_cls(dict(schema))

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and return the arguments unchanged."""
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            lines = []
            for err in errors:
                where = ".".join(str(p) for p in err.path) or "arguments"
                lines.append(f"field {where!r}: {err.message}")
            raise InvalidArgumentsError("invalid arguments: " + "; ".join(lines))
        return dict(arguments)

    def canonical_json(self, kwargs: Mapping[str, Any]) -> str:
        """Canonical JSON of validated arguments."""
        return canonical_json(kwargs)
