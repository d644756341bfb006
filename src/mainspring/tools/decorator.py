"""`@tool`: a typed Python function becomes a `Tool`, its schema derived, never hand-written."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple, get_type_hints, overload

import pydantic
from pydantic import Field, create_model

from mainspring.errors import ToolDefinitionError
from mainspring.sandbox import _inside
from mainspring.sandbox.base import Sandbox
from mainspring.tools._validation import JsonSchemaValidator, PydanticValidator
from mainspring.tools.base import CallContext, Tool
from mainspring.tools.policy import (
    ApprovalPolicy,
    BreakerPolicy,
    RateLimit,
    ToolPolicy,
    coerce_breaker,
    coerce_rate_limit,
)

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _check_name(name: str) -> str:
    # OpenAI and Anthropic both reject other characters or longer names in tool definitions.
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise ToolDefinitionError(
            f"tool name {name!r} must be 1-64 characters of letters, digits, '_' or '-'"
        )
    return name


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's auto-generated titles: they cost prompt tokens and say nothing new."""
    if isinstance(schema, dict):
        return {
            k: _strip_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _parameters_model(
    func: Callable[..., Any], name: str, param_docs: Mapping[str, str]
) -> tuple[type[pydantic.BaseModel], str | None]:
    """A pydantic model of the function's parameters, and the CallContext parameter if any."""
    try:
        hints = get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve a type hint: {exc}") from exc
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args/**kwargs cannot be described to a model; "
                "declare each parameter with a type"
            )
        annotation = hints.get(param.name)
        if annotation is None:
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {param.name!r} needs a type hint so its schema "
                "can be derived"
            )
        if annotation is CallContext:
            context_param = param.name
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    # allow_inf_nan=False: NaN and Infinity are not JSON, and would reach records as bare `NaN`.
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False, allow_inf_nan=False)
    try:
        model = create_model(f"{name}_arguments", __config__=config, **fields)
    except (pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: unsupported parameter type: {exc}") from exc
    return model, context_param


@lru_cache(maxsize=1024)
def _definition(
    func: Callable[..., Any], tool_name: str, description: str | None
) -> tuple[str, dict[str, Any], type[pydantic.BaseModel], str | None]:
    """Description, JSON Schema, argument model and context parameter of a function.

    The costly part of `@tool` (docstring parsing, `create_model`, `model_json_schema`: about
    0.6 ms), done once per function: a program that builds its agents (and their tools) per
    request pays it on the first request only. Callers must not mutate the schema returned.
    """
    import docstring_parser  # here, not at import: only describing a new function needs it

    doc = docstring_parser.parse(inspect.getdoc(func) or "")
    param_docs = {p.arg_name: p.description for p in doc.params if p.description}
    text = description or "\n\n".join(
        part for part in (doc.short_description, doc.long_description) if part
    )
    if not text:
        raise ToolDefinitionError(
            f"tool {tool_name!r} has no description: add a docstring saying what it does "
            "(the model chooses tools by it)"
        )
    model, context_param = _parameters_model(func, tool_name, param_docs)
    try:
        parameters = _strip_titles(model.model_json_schema())
    except pydantic.PydanticUserError as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: {exc}") from exc
    return text, parameters, model, context_param


def make_tool(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    policy: ToolPolicy | None = None,
) -> Tool:
    """Build a `Tool` from a function; the work behind `@tool`."""
    tool_name = _check_name(name or func.__name__)
    try:
        text, parameters, model, context_param = _definition(func, tool_name, description)
    except TypeError as exc:  # an unhashable callable: no cache, same result
        if "unhashable" not in str(exc):
            raise
        text, parameters, model, context_param = _definition.__wrapped__(
            func, tool_name, description
        )
    return Tool(
        tool_name,
        text,
        parameters,
        func,
        validator=PydanticValidator(model),
        policy=policy or ToolPolicy(),
        is_async=inspect.iscoroutinefunction(func),
        context_param=context_param,
    )


def tool_from_schema(
    name: str,
    description: str,
    parameters: Mapping[str, Any],
    function: Callable[..., Any],
    *,
    policy: ToolPolicy | None = None,
    max_result_tokens: int | None = None,
    keep_invisible: bool | None = None,
) -> Tool:
    """Build a `Tool` from a raw JSON Schema; the function receives the arguments as keywords.

    `max_result_tokens` and `keep_invisible`, when given, override the same fields of `policy`.
    """
    if parameters.get("type", "object") != "object":
        raise ToolDefinitionError(
            f"tool {name!r}: the parameters schema must describe an object, "
            f"got type {parameters.get('type')!r}"
        )
    try:
        validator = JsonSchemaValidator(parameters)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: invalid JSON Schema: {exc}") from exc
    policy = policy or ToolPolicy()
    if max_result_tokens is not None:
        policy = dataclasses.replace(policy, max_result_tokens=max_result_tokens)
    if keep_invisible is not None:
        policy = dataclasses.replace(policy, keep_invisible=keep_invisible)
    return Tool(
        _check_name(name),
        description,
        dict(parameters),
        function,
        validator=validator,
        policy=policy,
        is_async=inspect.iscoroutinefunction(function),
    )


class _Options(NamedTuple):
    """The arguments of one `@tool(...)`, hashable so that a repeat returns the same `Tool`.

    A tuple, not a frozen dataclass: it is made on every `@tool`, and a tuple is made and
    hashed several times faster.
    """

    name: str | None
    description: str | None
    timeout: float | None
    rate_limit: str | RateLimit | None
    cache_ttl: float | None
    breaker: int | BreakerPolicy | None
    scopes: frozenset[str]
    requires_approval: ApprovalPolicy
    secrets: frozenset[str]
    idempotent: bool
    sandbox: Sandbox | None
    max_result_tokens: int | None
    keep_invisible: bool
    inline: bool


@lru_cache(maxsize=1024)
def _cached_tool(func: Callable[..., Any], options: _Options) -> Tool:
    """`_build_tool`, once per function and options.

    A `Tool` is immutable, so a program that decorates per request (or builds an agent per
    request) shares one instead of rebuilding it.
    """
    return _build_tool(func, options)


def _build_tool(f: Callable[..., Any], o: _Options) -> Tool:
    # Inside the jail's child the module is imported again: there the function runs in place.
    jailed = o.sandbox is not None and _inside.level() is None
    if jailed:
        # Imported for jailed tools only: it loads the sandbox (seccomp, Landlock, cgroups).
        from mainspring.tools._jailed import check_function, jail_tool

        check_function(f, o.name or str(getattr(f, "__name__", f)))
    policy = ToolPolicy(
        timeout=o.timeout,
        rate_limit=coerce_rate_limit(o.rate_limit),
        cache_ttl=o.cache_ttl,
        breaker=coerce_breaker(o.breaker),
        scopes=o.scopes,
        requires_approval=o.requires_approval,
        secrets=o.secrets,
        idempotent=o.idempotent,
        sandbox=o.sandbox,
        max_result_tokens=o.max_result_tokens,
        keep_invisible=o.keep_invisible,
        inline=o.inline,
    )
    if o.inline and inspect.iscoroutinefunction(f):
        raise ToolDefinitionError(
            f"tool {o.name or getattr(f, '__name__', f)!r}: inline=True is for plain def "
            "tools (an async def tool already runs on the event loop)"
        )
    built = make_tool(f, name=o.name, description=o.description, policy=policy)
    unknown = policy.secrets - set(built.parameters.get("properties", {}))
    if unknown:
        raise ToolDefinitionError(
            f"tool {built.name!r}: secrets names unknown parameters {sorted(unknown)}"
        )
    if jailed:
        assert o.sandbox is not None
        built = jail_tool(built, f, o.sandbox, o.timeout)
    return built


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    rate_limit: str | RateLimit | None = None,
    cache_ttl: float | None = None,
    breaker: int | BreakerPolicy | None = None,
    scopes: Iterable[str] = (),
    requires_approval: ApprovalPolicy = False,
    secrets: Iterable[str] = (),
    idempotent: bool = False,
    sandbox: Sandbox | None = None,
    max_result_tokens: int | None = None,
    keep_invisible: bool = False,
    inline: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    rate_limit: str | RateLimit | None = None,
    cache_ttl: float | None = None,
    breaker: int | BreakerPolicy | None = None,
    scopes: Iterable[str] = (),
    requires_approval: ApprovalPolicy = False,
    secrets: Iterable[str] = (),
    idempotent: bool = False,
    sandbox: Sandbox | None = None,
    max_result_tokens: int | None = None,
    keep_invisible: bool = False,
    inline: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a sync or async function into a `Tool`, with `@tool` or `@tool(...)`.

    The name comes from the function, the description and per-parameter descriptions from its
    docstring, and the JSON Schema from its type hints. Policy arguments are validated here, so a
    mistake fails at definition time.

    With `sandbox=`, every call runs the function in a fresh child process in that jail, with
    the tool's `timeout` as its wall clock and the jail's limits; the result names the level
    that was in force. A function the child cannot import by module and name (a lambda, a
    closure, a method, code of `__main__`) is refused here (see `mainspring.tools._jailed`).

    A plain `def` tool runs in a worker thread, so it cannot stall other runs; `inline=True`
    runs a quick, pure one on the event loop instead, without the hop (and without a timeout).
    """
    options = _Options(
        name=name,
        description=description,
        timeout=timeout,
        rate_limit=rate_limit,
        cache_ttl=cache_ttl,
        breaker=breaker,
        scopes=frozenset(scopes),
        requires_approval=requires_approval,
        secrets=frozenset(secrets),
        idempotent=idempotent,
        sandbox=sandbox,
        max_result_tokens=max_result_tokens,
        keep_invisible=keep_invisible,
        inline=inline,
    )

    def build(f: Callable[..., Any]) -> Tool:
        try:
            return _cached_tool(f, options)
        except TypeError as exc:  # an unhashable function or option: no cache, same result
            if "unhashable" not in str(exc):
                raise
            return _build_tool(f, options)

    return build(func) if func is not None else build
