"""The agent loop: call the model, run the tools it asks for, repeat until an answer or a cap.

`AgentLoop.events()` reads like the algorithm; the decisions (`next_action`, the budget checks)
are pure functions, and the I/O (model, tools, journal, memory, audit) sits in small methods.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mainspring.agent import react
from mainspring.agent.budget import Budget, Spent, StopReason, check_before_model_call
from mainspring.agent.budget import tool_calls_allowed as allowed_tool_calls
from mainspring.agent.events import (
    AgentEvent,
    BudgetStop,
    FinalAnswer,
    ModelRequestStarted,
    ModelResponded,
    RunFinished,
    RunResult,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.agent.journal import Journal, idempotency_key
from mainspring.agent.progress import ProgressTracker
from mainspring.agent.toolbox import Toolbox, gather_bounded
from mainspring.audit.base import AuditEntry
from mainspring.clock import Clock
from mainspring.errors import ModelError
from mainspring.messages import Message, ModelResponse, ToolCall, ToolError, ToolResult, Usage
from mainspring.models.base import (
    MESSAGE_OVERHEAD_TOKENS,
    Model,
    ModelSettings,
    ResponseDone,
    ToolDefinition,
    cost_of,
)
from mainspring.models.base import TextDelta as ModelTextDelta
from mainspring.runs.base import utc_now
from mainspring.tokens import Tokenizer
from mainspring.tools.base import Approver, CallContext, Principal

AgentProtocol = Literal["native", "react"]
"""`native`: the provider's tool calling; `react`: the Thought/Action/Observation text protocol."""


class RunMemory(Protocol):
    """What the loop needs from a memory; `mainspring.memory.AgentMemory` provides it."""

    async def add_short_term(self, content: str, *, importance: float = 0.5) -> object:
        """Remember one line of this run."""
        ...

    async def get_context(
        self, max_tokens: int, query: str | None = None, *, tokenizer: Tokenizer | None = None
    ) -> object:
        """Relevant memory within `max_tokens` by `tokenizer`; the result has a `.text`."""
        ...


class ModelAuditor(Protocol):
    """Receives one audit entry per model call (`mainspring.audit.AuditSink` does)."""

    async def record(self, entry: AuditEntry) -> None:
        """Append the entry to the audit log."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopConfig:
    """Everything fixed for the duration of a run."""

    model: Model
    toolbox: Toolbox
    budget: Budget
    protocol: AgentProtocol
    instructions: str | None
    settings: ModelSettings | None
    principal: Principal
    approver: Approver | None
    clock: Clock
    memory: RunMemory | None = None
    memory_tokens: int = 1000
    auditor: ModelAuditor | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The model answered."""

    text: str


@dataclass(frozen=True, slots=True)
class CallTools:
    """The model asked for tools."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class Observe:
    """The reply could not be acted on; the feedback goes back to the model."""

    feedback: str


Action = Answer | CallTools | Observe


def next_action(
    protocol: AgentProtocol, response: ModelResponse, tools: Sequence[ToolDefinition], step: int
) -> Action:
    """What to do with a model reply. Pure."""
    message = response.message
    if protocol == "native":
        return CallTools(message.tool_calls) if message.tool_calls else Answer(message.content)
    parsed = react.parse_react(message.content, tools)
    if isinstance(parsed, react.FinalAnswer):
        return Answer(parsed.text)
    if isinstance(parsed, react.Retry):
        return Observe(parsed.feedback)
    return CallTools((ToolCall(f"react_{step}", parsed.tool, parsed.arguments),))


@dataclass
class RunState:
    """What the loop has accumulated; rebuilt identically when a run is resumed."""

    run_id: str
    task: str
    messages: list[Message] = field(default_factory=list[Message])
    tokens: list[int] = field(default_factory=list[int])
    """Token count of each message, counted once when it is added."""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    tool_calls: int = 0
    last_text: str = ""


class AgentLoop:
    """One run of the loop over a journal (fresh, or resuming a recorded run)."""

    def __init__(self, config: LoopConfig, journal: Journal, *, stream: bool = False) -> None:
        self.config = config
        self.journal = journal
        self.stream = stream
        self.state = RunState(journal.info.run_id, journal.info.task)
        self._started = config.clock.now()
        self._tool_tokens: dict[str, int] = {}
        self._stop: StopReason | None = None
        self._error: str | None = None
        repeats = config.budget.max_repeated_calls
        self._progress = None if repeats is None else ProgressTracker(repeats)

    async def events(self, *, resumed: bool = False) -> AsyncIterator[AgentEvent]:
        """Run to the end, yielding what happens; the last event is `RunFinished`."""
        yield RunStarted(self.state.run_id, self.state.task, resumed)
        await self._begin(resumed)
        while self._stop is None:
            async for event in self._step():
                yield event
        yield RunFinished(await self._finish(self._stop))

    async def _step(self) -> AsyncIterator[AgentEvent]:
        """One iteration: budget check, model call, then the answer or the tool calls."""
        cfg, state = self.config, self.state
        tools = await cfg.toolbox.definitions(cfg.principal)
        prompt_tokens = self._prompt_tokens(tools)
        prompt_cost = cost_of(cfg.model.pricing, prompt_tokens, 0)
        self._stop = check_before_model_call(cfg.budget, self._spent(), prompt_tokens, prompt_cost)
        if self._stop is not None:
            yield BudgetStop(self._stop)
            return
        state.steps += 1
        yield ModelRequestStarted(state.steps, prompt_tokens)
        response: ModelResponse | None = None
        async for item in self._respond(tools):
            if isinstance(item, ModelResponse):
                response = item
            else:
                yield item
        if response is None:  # the call failed or ran out of time; _respond set the reason
            return
        action = next_action(cfg.protocol, response, tools, state.steps)
        if isinstance(action, Answer):
            state.last_text = action.text
            self._stop = "final_answer"
            yield FinalAnswer(action.text)
        elif isinstance(action, Observe):
            self._add(Message("user", f"Observation: {action.feedback}"))
        else:
            async for event in self._run_tools(action.calls):
                yield event
            if self._stop == "max_tool_calls":
                yield BudgetStop("max_tool_calls")

    # --- the model -------------------------------------------------------------------------

    async def _respond(
        self, tools: list[ToolDefinition]
    ) -> AsyncIterator[TextDelta | ModelResponded | ModelResponse]:
        """The step's reply: from the record when resuming, else from the model.

        When the call fails or runs out of time, nothing is yielded and `_stop` says why.
        """
        step = self.state.steps
        recorded = self.journal.recorded_reply(step)
        if recorded is not None:
            self._take(recorded)
            yield ModelResponded(step, recorded, replayed=True)
            yield recorded
            return
        started = time.perf_counter()
        try:
            response: ModelResponse | None = None
            async for item in self._call_model(tools):
                if isinstance(item, ModelResponse):
                    response = item
                else:
                    yield item
            assert response is not None  # _call_model always ends with the response
        except TimeoutError:
            self._stop = "max_seconds"
            return
        except ModelError as exc:
            self._stop, self._error = "error", str(exc)
            await self._audit_model(None, time.perf_counter() - started, str(exc))
            return
        await self.journal.model_called(step, response)
        await self._audit_model(response, time.perf_counter() - started, None)
        self._take(response)
        yield ModelResponded(step, response)
        yield response

    async def _call_model(
        self, tools: list[ToolDefinition]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        cfg = self.config
        offered = tools if cfg.protocol == "native" else ()
        settings = cfg.settings
        if cfg.protocol == "react":
            settings = ModelSettings(stop=react.STOP_SEQUENCES).merge(settings)
        remaining = self._remaining_seconds()
        if not self.stream:
            if remaining is None:
                yield await cfg.model.request(self.state.messages, offered, settings)
                return
            async with asyncio.timeout(remaining):
                yield await cfg.model.request(self.state.messages, offered, settings)
            return
        deltas = cfg.model.stream(self.state.messages, offered, settings)
        while True:
            async with asyncio.timeout(self._remaining_seconds()):
                delta = await anext(deltas, None)
            if delta is None:
                raise ModelError(f"{cfg.model.name!r} ended its stream without a response")
            if isinstance(delta, ModelTextDelta):
                yield TextDelta(self.state.steps, delta.text)
            elif isinstance(delta, ResponseDone):
                yield delta.response
                return

    def _take(self, response: ModelResponse) -> None:
        """Fold a reply into the state."""
        self.state.usage = self.state.usage + response.usage
        message = response.message
        if message.content:
            self.state.last_text = message.content
        self._add(message)

    # --- tools -----------------------------------------------------------------------------

    async def _run_tools(self, calls: tuple[ToolCall, ...]) -> AsyncIterator[AgentEvent]:
        cfg, state = self.config, self.state
        allowed = min(
            allowed_tool_calls(cfg.budget, self._spent(), len(calls)), self._progressing(calls)
        )
        step = state.steps
        planned: list[tuple[ToolCall, str]] = []
        for call in calls[:allowed]:
            key = idempotency_key(state.run_id, step, call)
            if self.journal.interrupted(key) and not cfg.toolbox.idempotent(call.name):
                self._stop = "needs_attention"
                self._error = (
                    f"tool call {call.name!r} ({key}) started before the process stopped and its "
                    "outcome is unknown; the tool is not idempotent, so it was not run again. "
                    "Check its effects, then cancel the run or resume it after recording them."
                )
                return
            planned.append((call, key))
        for call, _ in planned:
            yield ToolCallStarted(step, call)
        results = await self._execute(planned)
        for (call, _), (result, replayed) in zip(planned, results, strict=True):
            state.tool_calls += 1
            yield ToolCallFinished(step, result, replayed)
            self._add_result(call, result)
        # Calls past the tool-call cap get an answer too: native protocols need one per call.
        for call in calls[allowed:]:
            self._add_result(call, _not_run(call, self._stop or "max_tool_calls"))
        if allowed < len(calls) and self._stop is None:
            self._stop = "max_tool_calls"

    def _progressing(self, calls: tuple[ToolCall, ...]) -> int:
        """How many of `calls` are not a repetition without progress; sets the stop if one is."""
        if self._progress is None:
            return len(calls)
        for index, call in enumerate(calls):
            arguments = call.arguments if isinstance(call.arguments, dict) else {"": call.arguments}
            reason = self._progress.admit(call.name, arguments)
            if reason is not None:
                self._stop, self._error = "no_progress", f"stopped: {reason}"
                return index
        return len(calls)

    async def _execute(self, planned: list[tuple[ToolCall, str]]) -> list[tuple[ToolResult, bool]]:
        cfg = self.config
        fresh = [(c, k) for c, k in planned if self.journal.recorded_result(k) is None]
        await self.journal.tools_started(
            self.state.steps, [(c, k, cfg.toolbox.idempotent(c.name)) for c, k in fresh]
        )
        coros = [
            cfg.toolbox.execute(
                c,
                CallContext(
                    principal=cfg.principal,
                    run_id=self.state.run_id,
                    approver=cfg.approver,
                    idempotency_key=k,
                ),
            )
            for c, k in fresh
        ]
        ran = dict(
            zip(
                [k for _, k in fresh],
                await gather_bounded(coros, cfg.toolbox.max_concurrency),
                strict=True,
            )
        )
        await self.journal.tools_finished(self.state.steps, list(ran.values()))
        out: list[tuple[ToolResult, bool]] = []
        for _, key in planned:
            recorded = self.journal.recorded_result(key)
            out.append((recorded, True) if recorded is not None else (ran[key], False))
        return out

    def _add_result(self, call: ToolCall, result: ToolResult) -> None:
        if self.config.protocol == "native":
            self._add(Message("tool", result.content, tool_call_id=call.id, name=call.name))
        else:
            self._add(Message("user", f"Observation: {result.content}"))

    # --- state, budget, memory, audit ------------------------------------------------------

    def _add(self, message: Message) -> None:
        tokenizer = self.config.model.tokenizer
        count = MESSAGE_OVERHEAD_TOKENS
        if message.content:
            count += tokenizer.count(message.content)
        for call in message.tool_calls:
            args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            count += tokenizer.count(call.name) + tokenizer.count(args)
        self.state.messages.append(message)
        self.state.tokens.append(count)

    def _prompt_tokens(self, tools: Sequence[ToolDefinition]) -> int:
        total = 3 + sum(self.state.tokens)
        if self.config.protocol == "native":
            for tool in tools:
                cached = self._tool_tokens.get(tool.name)
                if cached is None:
                    text = json.dumps(tool.openai(), separators=(",", ":"))
                    cached = self._tool_tokens[tool.name] = self.config.model.tokenizer.count(text)
                total += cached
        return total

    def _spent(self) -> Spent:
        s = self.state
        return Spent(s.usage, s.steps, s.tool_calls, self.config.clock.now() - self._started)

    def _remaining_seconds(self) -> float | None:
        if self.config.budget.max_seconds is None:
            return None
        return max(0.0, self.config.budget.max_seconds - self._spent().seconds)

    async def _begin(self, resumed: bool) -> None:
        cfg = self.config
        system = [cfg.instructions or ""]
        if cfg.protocol == "react":
            system.append(react.react_instructions(await cfg.toolbox.definitions(cfg.principal)))
        if cfg.memory is not None:
            context = await cfg.memory.get_context(
                cfg.memory_tokens, query=self.state.task, tokenizer=cfg.model.tokenizer
            )
            text = str(getattr(context, "text", ""))
            if text:
                system.append(f"What you remember that may be relevant:\n{text}")
        prompt = "\n\n".join(part for part in system if part)
        if prompt:
            self._add(Message("system", prompt))
        self._add(Message("user", self.state.task))
        await self.journal.begin(new=not resumed)

    async def _finish(self, stop: StopReason) -> RunResult:
        state = self.state
        status = {
            "final_answer": "completed",
            "needs_attention": "needs_attention",
            "error": "failed",
            "cancelled": "cancelled",
        }.get(stop, "completed")
        await self.journal.save(
            status=status,
            stop_reason=stop,
            output=state.last_text,
            usage=state.usage,
            steps=state.steps,
            tool_calls=state.tool_calls,
            note=self._error,
        )
        memory = self.config.memory
        if memory is not None and stop == "final_answer":
            await memory.add_short_term(f"User asked: {state.task}")
            await memory.add_short_term(f"Answer: {state.last_text}")
        return RunResult(
            state.last_text,
            stop_reason=stop,
            run_id=state.run_id,
            steps=state.steps,
            tool_calls=state.tool_calls,
            usage=state.usage,
            error=self._error,
            messages=tuple(state.messages),
        )

    async def _audit_model(
        self, response: ModelResponse | None, seconds: float, error: str | None
    ) -> None:
        auditor = self.config.auditor
        if auditor is None:
            return
        usage = response.usage if response is not None else Usage()
        calls = [c.name for c in response.message.tool_calls] if response is not None else []
        await auditor.record(
            AuditEntry(
                "model_call",
                self.config.model.name,
                time=utc_now(),
                run_id=self.state.run_id,
                principal=self.config.principal.id,
                outcome="ok" if error is None else "error",
                error_kind=None if error is None else "model_error",
                latency_ms=seconds * 1000,
                cost_usd=usage.cost_usd,
                call_id=f"step-{self.state.steps}",
                detail={
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "tool_calls": calls,
                    "error": error,
                },
            )
        )


def _not_run(call: ToolCall, reason: StopReason) -> ToolResult:
    message = (
        "not run: the same call was made too often without progress"
        if reason == "no_progress"
        else "not run: the run's max_tool_calls budget is spent"
    )
    return ToolResult(
        call.id, False, message, error=ToolError("tool_error", message), tool=call.name
    )
