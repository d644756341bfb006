"""Runs tool calls through the guards. Never raises for a tool's fault: failures are results."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
from pydantic_core import to_json

from mainspring.errors import (
    BackendError,
    InvalidArgumentsError,
    RetryWithFeedback,
    ToolCallError,
    ToolNotFoundError,
)
from mainspring.messages import ToolCall, ToolError, ToolResult
from mainspring.tools.base import CallContext, Tool
from mainspring.tools.events import EventSink, ToolCallEvent
from mainspring.tools.guards import Guard, Handler, Invocation, build_chain, default_guards
from mainspring.tools.output import DEFAULT_MAX_RESULT_TOKENS, prepare
from mainspring.tools.policy import check_max_result_tokens
from mainspring.tools.registry import ToolRegistry

_DEFAULT_CONTEXT = CallContext()
logger = logging.getLogger("mainspring.tools")


def parse_arguments(raw: dict[str, Any] | str) -> dict[str, Any]:
    """Accept a dict or a JSON object text; anything else is `InvalidArgumentsError`."""
    if isinstance(raw, dict):
        return raw
    text = raw.strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentsError(
            f"arguments are not valid JSON ({exc.msg} at position {exc.pos}); "
            'send a JSON object such as {"name": value}'
        ) from None
    if not isinstance(value, dict):
        raise InvalidArgumentsError(
            f"arguments must be a JSON object, got {type(value).__name__}; "
            'send {"parameter": value, ...}'
        )
    return value


def to_content(value: Any) -> str:
    """What the model reads: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return to_json(value, fallback=repr).decode()


async def invoke(invocation: Invocation) -> str:
    """The innermost handler: call the function (sync ones in a worker thread).

    The tool's own exception becomes a `tool_error` here, so that anything else reaching the
    executor is known not to be the tool's fault.
    """
    tool = invocation.tool
    kwargs = invocation.kwargs
    if tool.context_param is not None:
        kwargs = {**kwargs, tool.context_param: invocation.ctx}
    try:
        if tool.is_async:
            value = await tool.function(**kwargs)
        else:
            # abandon_on_cancel: a timed-out sync tool cannot be killed, only left behind.
            value = await anyio.to_thread.run_sync(
                partial(tool.function, **kwargs), abandon_on_cancel=True
            )
        return to_content(value)
    except (ToolCallError, RetryWithFeedback):
        raise
    except Exception as exc:
        raise ToolCallError(f"{tool.name!r} failed: {type(exc).__name__}: {exc}") from exc


def _classify(exc: Exception, name: str) -> ToolError:
    """The error of a call that failed outside the tool: never the tool's fault."""
    if isinstance(exc, BackendError):
        return ToolError("unavailable", f"a guard backend failed while calling {name!r}: {exc}")
    logger.error("internal error in the guard chain of tool %r", name, exc_info=exc)
    return ToolError(
        "internal",
        f"mainspring failed while calling {name!r} ({type(exc).__name__}: {exc}); this is not "
        "the tool's fault, so retrying may not help: report it to the operator",
    )


class ToolExecutor:
    """Executes `ToolCall`s against a registry, through the guards, and reports every call.

    Args:
        registry: where tools, their shared guard state and their statistics live.
        sinks: receive one `ToolCallEvent` per call (e.g. `JsonlEventSink`).
        guards: the guard chain, outermost first; `default_guards(...)` when omitted.
        default_timeout: seconds for tools that declare no timeout (None: unbounded). It also
            bounds the guards' backend waits (e.g. Redis) of those tools.
        max_concurrency: how many calls of one `execute_many` run at once.
        max_result_tokens: tokens of a result the model sees, for tools that declare no
            `max_result_tokens` (None: no cap); counted with `CallContext.tokenizer`.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        sinks: Sequence[EventSink] = (),
        guards: Sequence[Guard] | None = None,
        default_timeout: float | None = 60.0,
        max_concurrency: int = 16,
        max_result_tokens: int | None = DEFAULT_MAX_RESULT_TOKENS,
    ) -> None:
        check_max_result_tokens(max_result_tokens)
        self.registry = registry
        self.sinks = tuple(sinks)
        self.max_concurrency = max_concurrency
        self.max_result_tokens = max_result_tokens
        self.default_timeout = default_timeout
        self._guards = (
            list(guards)
            if guards is not None
            else default_guards(registry.backend, default_timeout=default_timeout)
        )
        self._chains: dict[str, tuple[Tool, Handler]] = {}
        self._version = registry.version

    def _chain(self, tool: Tool) -> Handler:
        if self._version != self.registry.version:
            self._chains.clear()
            self._version = self.registry.version
        entry = self._chains.get(tool.name)
        if entry is None or entry[0] is not tool:
            entry = (tool, build_chain(tool, self._guards, invoke))
            self._chains[tool.name] = entry
        return entry[1]

    def _resolve(self, name: str) -> Tool:
        tool = self.registry.lookup(name)
        if tool is None:
            return self.registry.get(name)  # raises ToolNotFoundError listing the real tools
        reason = self.registry.unavailable_reason(name)
        if reason is not None:
            raise ToolNotFoundError(f"tool {name!r} is unavailable ({reason}); use another tool")
        return tool

    async def execute(self, call: ToolCall, ctx: CallContext = _DEFAULT_CONTEXT) -> ToolResult:
        """Run one call through the guards and return its result; never raises for the tool."""
        start = time.perf_counter()
        invocation: Invocation | None = None
        content = ""
        error: ToolError | None = None
        try:
            tool = self._resolve(call.name)
            invocation = Invocation(tool, call, ctx, parse_arguments(call.arguments))
            invocation.time_limit = tool.policy.timeout or self.default_timeout
            content = await self._chain(tool)(invocation)
        except ToolCallError as exc:
            error = exc.to_tool_error()
        except RetryWithFeedback as exc:
            error = ToolError("tool_error", exc.feedback)
        except Exception as exc:
            error = _classify(exc, call.name)
        latency_ms = (time.perf_counter() - start) * 1000
        cached = invocation is not None and invocation.cached
        text, raw = self._prepare(content if error is None else error.message, invocation, ctx)
        if error is not None and text != error.message:
            error = dataclasses.replace(error, message=text)
        result = ToolResult(
            call.id,
            error is None,
            text,
            error=error,
            latency_ms=latency_ms,
            cached=cached,
            tool=call.name,
            raw_content=raw,
        )
        if call.name in self.registry:
            self.registry.recorder(call.name).record(
                latency_ms, None if error is None else error.kind, cached
            )
        if self.sinks:
            await self._emit(result, invocation, ctx)
        return result

    def _prepare(
        self, text: str, invocation: Invocation | None, ctx: CallContext
    ) -> tuple[str, str | None]:
        """Neutralise and cap what the model will read (see `mainspring.tools.output`)."""
        policy = None if invocation is None else invocation.tool.policy
        limit = self.max_result_tokens
        if policy is not None and policy.max_result_tokens is not None:
            limit = policy.max_result_tokens
        keep = policy is not None and policy.keep_invisible
        return prepare(text, max_tokens=limit, keep_invisible=keep, tokenizer=ctx.tokenizer)

    async def execute_many(
        self, calls: Sequence[ToolCall], ctx: CallContext = _DEFAULT_CONTEXT
    ) -> list[ToolResult]:
        """Run calls concurrently (at most `max_concurrency` at once); results in call order."""
        results: list[ToolResult | None] = [None] * len(calls)
        pending = iter(enumerate(calls))

        # A pool of workers pulling from one iterator bounds concurrency without a semaphore;
        # asyncio's TaskGroup starts tasks ~6x faster than anyio's (bench/tools.py).
        async def worker() -> None:
            for index, call in pending:
                results[index] = await self.execute(call, ctx)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(len(calls), self.max_concurrency)):
                group.create_task(worker())
        return [r for r in results if r is not None]

    async def _emit(
        self, result: ToolResult, invocation: Invocation | None, ctx: CallContext
    ) -> None:
        if invocation is not None:
            arguments = invocation.tool.redact(invocation.kwargs or invocation.arguments)
            tool_hash: str | None = invocation.tool.hash
        else:
            arguments, tool_hash = {}, None
        event = ToolCallEvent(
            time=dt.datetime.now(dt.UTC),
            run_id=ctx.run_id,
            principal=ctx.principal.id,
            tool=result.tool,
            call_id=result.call_id,
            arguments=arguments,
            ok=result.ok,
            error_kind=None if result.error is None else result.error.kind,
            latency_ms=result.latency_ms,
            cached=result.cached,
            tool_hash=tool_hash,
        )
        for sink in self.sinks:
            await sink.emit(event)

    async def aclose(self) -> None:
        """Flush and close the sinks."""
        for sink in self.sinks:
            await sink.aclose()
