"""Runs tool calls through the guards. Never raises for a tool's fault: failures are results.

Every call is announced on the hooks surface (`mainspring.hooks`) before it runs and after it
ends: the run's observers when the call belongs to a run (`CallContext.scope`), else the
executor's own (`hooks=`, and `sinks=` for `EventSink`s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Sequence
from functools import partial
from typing import Any, TypeVar

from pydantic_core import to_json

from mainspring.clock import utc_now
from mainspring.errors import (
    BackendError,
    InvalidArgumentsError,
    RetryWithFeedback,
    ToolCallError,
    ToolNotFoundError,
)
from mainspring.hooks import Hooks, Observers, ToolCallRecord
from mainspring.messages import ToolCall, ToolError, ToolResult
from mainspring.tools._threads import run_in_thread
from mainspring.tools.base import CallContext, Tool
from mainspring.tools.events import EventSink, SinkHooks
from mainspring.tools.guards import Guard, Handler, Invocation, build_chain, default_guards
from mainspring.tools.output import DEFAULT_MAX_RESULT_TOKENS, prepare
from mainspring.tools.policy import check_max_result_tokens
from mainspring.tools.registry import ToolRegistry

_DEFAULT_CONTEXT = CallContext()
logger = logging.getLogger("mainspring.tools")
_T = TypeVar("_T")


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
        elif tool.policy.inline:
            value = tool.function(**kwargs)  # declared cheap: on the event loop, no hop
        else:
            # A timed-out sync tool cannot be killed, only left behind (see _threads).
            value = await run_in_thread(partial(tool.function, **kwargs))
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


async def gather_bounded(coros: Sequence[Awaitable[_T]], limit: int) -> list[_T]:
    """Await all, at most `limit` at once, results in order: the one concurrency bound."""
    if len(coros) == 1:
        return [await coros[0]]
    results: list[Any] = [None] * len(coros)
    pending = iter(enumerate(coros))

    # A pool of workers pulling from one iterator bounds concurrency without a semaphore;
    # asyncio's TaskGroup starts tasks ~6x faster than anyio's (bench/tools.py).
    async def worker() -> None:
        for index, coro in pending:
            results[index] = await coro

    async with asyncio.TaskGroup() as group:
        for _ in range(min(len(coros), max(1, limit))):
            group.create_task(worker())
    return results


class ToolExecutor:
    """Executes `ToolCall`s against a registry, through the guards, and reports every call.

    Args:
        registry: where tools, their shared guard state and their statistics live.
        sinks: receive one `ToolCallEvent` per call (e.g. `JsonlEventSink`).
        hooks: subscribers to the hooks surface (e.g. `AuditSink`) for calls made outside a run;
            inside an agent's run, the agent's observers (its `audit=` and `hooks=`) apply.
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
        sinks: Sequence[EventSink | Hooks] = (),
        hooks: Sequence[Hooks] = (),
        guards: Sequence[Guard] | None = None,
        default_timeout: float | None = 60.0,
        max_concurrency: int = 16,
        max_result_tokens: int | None = DEFAULT_MAX_RESULT_TOKENS,
    ) -> None:
        check_max_result_tokens(max_result_tokens)
        self.registry = registry
        self.sinks = tuple(sinks)
        self.hooks: tuple[Hooks, ...] = (
            *hooks,
            *(s if isinstance(s, Hooks) else SinkHooks(s) for s in self.sinks),
        )
        # The registry's lookup, not `self.secrets_of`: a bound method here would make a cycle
        # (executor -> observers -> executor) that only the garbage collector can free.
        self.observers = Observers(self.hooks, secrets_of=registry.secrets_of)
        self.max_concurrency = max_concurrency
        self.max_result_tokens = max_result_tokens
        self.default_timeout = default_timeout
        # The default chain is made at the first call: an agent built per request and never
        # called (or called with few tools) does not pay for six guard objects.
        self._guards: list[Guard] | None = list(guards) if guards is not None else None
        self._chains: dict[str, tuple[Tool, Handler]] = {}
        self._version = registry.version

    @property
    def guards(self) -> list[Guard]:
        """The guard chain, outermost first."""
        if self._guards is None:
            self._guards = default_guards(
                self.registry.backend, default_timeout=self.default_timeout
            )
        return self._guards

    def secrets_of(self, name: str) -> frozenset[str]:
        """The secret parameters of the tool called `name` (none for unknown tools)."""
        return self.registry.secrets_of(name)

    def _chain(self, tool: Tool) -> Handler:
        if self._version != self.registry.version:
            self._chains.clear()
            self._version = self.registry.version
        entry = self._chains.get(tool.name)
        if entry is None or entry[0] is not tool:
            entry = (tool, build_chain(tool, self.guards, invoke))
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
        observers = ctx.scope.observers if ctx.scope is not None else self.observers
        record: ToolCallRecord | None = None
        if observers.hooks:
            record = _record(call, ctx, self.registry.lookup(call.name))
            try:
                record = await observers.tool_started(record)
            except Exception as exc:  # nothing ran: the record could not be written first
                message = f"not run: its start could not be recorded ({type(exc).__name__}: {exc})"
                refused = ToolResult(
                    call.id, False, message, error=ToolError("internal", message), tool=call.name
                )
                await observers.tool_finished(_finished(record, refused))
                return refused
        # The body is inline (not a helper) on purpose: it is the hot path of every call.
        start = time.perf_counter()
        invocation: Invocation | None = None
        content = ""
        error: ToolError | None = None
        try:
            tool = self._resolve(call.name)
            if call.problem is not None:
                raise InvalidArgumentsError(call.problem)
            invocation = Invocation(tool, call, ctx, call.arguments)
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
        if call.name in self.registry:
            self.registry.recorder(call.name).record(
                latency_ms, None if error is None else error.kind, cached
            )
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
        if record is not None:
            await observers.tool_finished(_finished(record, result))
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
        return await gather_bounded([self.execute(c, ctx) for c in calls], self.max_concurrency)

    async def aclose(self) -> None:
        """Flush and close the sinks and hooks that hold resources."""
        for sink in self.sinks:
            close = getattr(sink, "aclose", None)
            if close is not None:
                await close()


def _record(call: ToolCall, ctx: CallContext, tool: Tool | None) -> ToolCallRecord:
    scope = ctx.scope
    if tool is None:  # nobody can say which arguments of an unknown tool are secret: keep none
        call = ToolCall(call.id, call.name)
    return ToolCallRecord(
        run_id=ctx.run_id,
        step=scope.step if scope is not None else 0,
        call=call,
        principal=ctx.principal.id,
        time=utc_now(),
        idempotency_key=ctx.idempotency_key,
        idempotent=tool is not None and tool.policy.idempotent,
        tool_hash=tool.hash if tool is not None else None,
        provenance=scope.provenance if scope is not None else (),
        secrets=tool.policy.secrets if tool is not None else frozenset(),
    )


def _finished(record: ToolCallRecord, result: ToolResult) -> ToolCallRecord:
    # A finished record is its start plus the result: same key, same redacted call.
    return ToolCallRecord(
        run_id=record.run_id,
        step=record.step,
        call=record.call,
        principal=record.principal,
        time=record.time,
        idempotency_key=record.idempotency_key,
        idempotent=record.idempotent,
        tool_hash=record.tool_hash,
        provenance=record.provenance,
        result=result,
        sealed=record.sealed,
        secrets=record.secrets,
    )
