"""`Agent`: a model, tools behind the guards, a budget, and the loop that ties them together.

The loop, in `_loop`, reads as the algorithm: check the budget, call the model, decide (a pure
function), run the tools, record the step. Everything else is a small helper.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

import anyio

from mainspring.agent.base import (
    AgentEvent,
    AgentProtocol,
    BudgetStop,
    FinalAnswer,
    Memory,
    ModelRequestStarted,
    RunFinished,
    RunResult,
    Step,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    last_text,
)
from mainspring.agent.budget import (
    Budget,
    Spent,
    StopReason,
    check_before_call,
    check_tool_calls,
    reply_token_cap,
)
from mainspring.agent.decisions import Answer, followup, next_action
from mainspring.agent.react import STOP_SEQUENCES, react_prompt
from mainspring.clock import Clock, MonotonicClock
from mainspring.errors import ConfigurationError, ModelError
from mainspring.messages import Message, ModelResponse, ToolResult, Usage
from mainspring.models import base as model_base
from mainspring.models.base import Model, ModelSettings, ToolDefinition, count_prompt_tokens
from mainspring.models.registry import resolve_model
from mainspring.tools import CallContext, Principal, Tool, ToolExecutor, ToolRegistry

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Use the tools when they help; answer briefly and exactly."
)


@dataclass
class _Run:
    """The mutable state of one run."""

    run_id: str
    task: str
    started: float
    messages: list[Message]
    steps: list[Step] = field(default_factory=list)
    usage: Usage = Usage()
    tool_calls: int = 0
    response: ModelResponse | None = None

    def spent(self, now: float) -> Spent:
        return Spent(len(self.steps), self.usage, self.tool_calls, now - self.started)

    def finish(
        self, reason: StopReason, output: str | None = None, error: str | None = None
    ) -> RunResult:
        return RunResult(
            last_text(self.steps) if output is None else output,
            stop_reason=reason,
            run_id=self.run_id,
            steps=tuple(self.steps),
            usage=self.usage,
            messages=tuple(self.messages),
            error=error,
        )


class Agent:
    """An LLM agent whose every tool call goes through the `ToolExecutor` and its guards.

    Args:
        model: a `Model` or a name such as `"local:smollm2"` or `"openai:gpt-4o-mini"`.
        tools: tools, a `ToolRegistry`, or a configured `ToolExecutor`.
        memory: where the task, tool results and answers are remembered, and context comes from.
        budget: the run's caps (10 iterations by default).
        protocol: "native" tool calls, or "react" text for models without them.
        instructions: the system prompt.
        settings: model settings for every call.
        principal: who the tool calls run as (scopes, rate-limit keys); tools it lacks the
            scopes for are not offered to the model.
        memory_tokens: how much of the prompt the memory's context may take.
        clock: time source for `max_seconds` (a `FakeClock` in tests).
    """

    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[Tool] | ToolRegistry | ToolExecutor = (),
        memory: Memory | None = None,
        budget: Budget | None = None,
        protocol: AgentProtocol = "native",
        instructions: str = DEFAULT_INSTRUCTIONS,
        settings: ModelSettings | None = None,
        principal: Principal | None = None,
        memory_tokens: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if protocol not in ("native", "react"):
            raise ConfigurationError(f"protocol must be 'native' or 'react', not {protocol!r}")
        self.model = resolve_model(model)
        self.executor = _executor(tools)
        self.memory = memory
        self.budget = budget or Budget()
        self.protocol: AgentProtocol = protocol
        self.instructions = instructions
        self.settings = settings or ModelSettings()
        self.principal = principal or Principal("agent")
        self.memory_tokens = memory_tokens
        self.clock = clock or MonotonicClock()
        self._definitions: dict[int, ToolDefinition] = {}

    async def run(self, task: str, *, run_id: str | None = None) -> RunResult:
        """Run `task` to an answer or a cap; a cap, a tool error or a model error never raise."""
        async for event in self._loop(task, run_id, stream=False):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("the loop always ends with RunFinished")  # pragma: no cover

    def run_stream(self, task: str, *, run_id: str | None = None) -> AsyncIterator[AgentEvent]:
        """Run `task`, yielding events as they happen; the last is `RunFinished`."""
        return self._loop(task, run_id, stream=True)

    def run_sync(self, task: str, *, run_id: str | None = None) -> RunResult:
        """`run` for synchronous code. Not from inside a running event loop (use `run`)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return anyio.run(self._run_and_close, task, run_id)
        raise ConfigurationError(
            "Agent.run_sync() was called inside a running event loop (e.g. from a tool or an "
            "async test); use `await agent.run(...)` there"
        )

    async def _run_and_close(self, task: str, run_id: str | None) -> RunResult:
        try:
            return await self.run(task, run_id=run_id)
        finally:  # the loop run_sync started ends here: close its HTTP connections
            aclose = getattr(self.model, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _loop(
        self, task: str, run_id: str | None, *, stream: bool
    ) -> AsyncIterator[AgentEvent]:
        run = _Run(run_id or uuid.uuid4().hex, task, self.clock.now(), [])
        ctx = CallContext(principal=self.principal, run_id=run.run_id)
        await self._remember("user", task)
        while True:
            tools = await self._tools()
            messages = await self._prompt(run, tools)
            prompt_tokens = self._count(messages, tools)
            stop = check_before_call(
                self.budget, run.spent(self.clock.now()), prompt_tokens or 0, self.model.pricing
            )
            if stop is not None:
                yield BudgetStop(len(run.steps), stop)
                yield RunFinished(run.finish(stop))
                return
            yield ModelRequestStarted(len(run.steps), prompt_tokens)
            try:
                async for delta in self._call_model(run, messages, tools, prompt_tokens, stream):
                    yield delta
            except ModelError as exc:
                yield RunFinished(run.finish("error", error=str(exc)))
                return
            assert run.response is not None
            action = next_action(
                run.response, self.protocol, {t.name: t for t in tools}, len(run.steps)
            )
            if isinstance(action, Answer):
                run.steps.append(Step(len(run.steps), run.response))
                await self._remember("assistant", action.output)
                yield FinalAnswer(len(run.steps) - 1, action.output)
                yield RunFinished(run.finish("final_answer", action.output))
                return
            stop = check_tool_calls(self.budget, run.spent(self.clock.now()), len(action.calls))
            if stop is not None:
                run.steps.append(Step(len(run.steps), run.response))
                yield BudgetStop(len(run.steps), stop)
                yield RunFinished(run.finish(stop))
                return
            step = len(run.steps)
            for call in action.calls:
                yield ToolCallStarted(step, call)
            results = await self.executor.execute_many(action.calls, ctx)
            for call, result in zip(action.calls, results, strict=True):
                yield ToolCallFinished(step, call, result)
            await self._record_tools(run, results)

    async def _call_model(
        self,
        run: _Run,
        messages: list[Message],
        tools: list[ToolDefinition],
        prompt_tokens: int | None,
        stream: bool,
    ) -> AsyncIterator[TextDelta]:
        """One model call; its response lands in `run.response`, its usage in `run.usage`."""
        settings = self._call_settings(run, prompt_tokens)
        offered = tools if self.protocol == "native" else []
        step = len(run.steps)
        if stream:
            response = None
            async for delta in self.model.stream(messages, offered, settings):
                if isinstance(delta, model_base.TextDelta):
                    yield TextDelta(step, delta.text)
                elif isinstance(delta, model_base.ResponseDone):
                    response = delta.response
            if response is None:
                raise ModelError(f"{self.model.name!r} ended its stream without a response")
        else:
            response = await self.model.request(messages, offered, settings)
        run.response = response
        run.usage = run.usage + response.usage

    def _call_settings(self, run: _Run, prompt_tokens: int | None) -> ModelSettings:
        settings = self.settings
        if self.protocol == "react":
            settings = replace(settings, stop=(*settings.stop, *STOP_SEQUENCES))
        cap = reply_token_cap(self.budget, run.spent(self.clock.now()), prompt_tokens or 0)
        if cap is not None and (settings.max_tokens is None or settings.max_tokens > cap):
            settings = replace(settings, max_tokens=cap)
        return settings

    async def _record_tools(self, run: _Run, results: Sequence[ToolResult]) -> None:
        assert run.response is not None
        run.tool_calls += len(results)
        run.steps.append(Step(len(run.steps), run.response, tuple(results)))
        run.messages.extend(followup(self.protocol, run.response, results))
        for result in results:
            await self._remember("tool", f"{result.tool}: {result.content}")

    async def _tools(self) -> list[ToolDefinition]:
        """Definitions of the tools the principal may use now (open breakers are left out)."""
        available = await self.executor.registry.available(self.principal)
        definitions = []
        for tool in available:
            definition = self._definitions.get(id(tool))
            if definition is None:
                definition = ToolDefinition(tool.name, tool.description, tool.parameters)
                self._definitions[id(tool)] = definition
            definitions.append(definition)
        return definitions

    async def _prompt(self, run: _Run, tools: list[ToolDefinition]) -> list[Message]:
        system = self.instructions
        if self.protocol == "react":
            system = f"{system}\n\n{react_prompt(tools)}"
        context: list[Message] = []
        if self.memory is not None:
            found = await self.memory.get_context(self.memory_tokens, query=run.task)
            context = found.to_messages()
        return [Message("system", system), *context, Message("user", run.task), *run.messages]

    def _count(self, messages: list[Message], tools: list[ToolDefinition]) -> int | None:
        if not self.budget.needs_prompt_count:
            return None
        offered = tools if self.protocol == "native" else []
        return count_prompt_tokens(self.model.tokenizer, messages, offered)

    async def _remember(self, role: str, text: str) -> None:
        if self.memory is not None:
            await self.memory.add_short_term(text, metadata={"role": role})


def _executor(tools: Sequence[Tool] | ToolRegistry | ToolExecutor) -> ToolExecutor:
    if isinstance(tools, ToolExecutor):
        return tools
    if isinstance(tools, ToolRegistry):
        return ToolExecutor(tools)
    return ToolExecutor(ToolRegistry(tools))
