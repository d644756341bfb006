"""The agent loop: call the model, run the tools it asks for, repeat until an answer or a cap.

`AgentLoop.events()` reads like the algorithm; the decisions (`next_action`, the budget checks)
are pure functions, and the I/O (model, tools, journal, memory, audit) sits in small methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import anyio

from mainspring.agent import react
from mainspring.agent.budget import Budget, Spent, check_before_model_call
from mainspring.agent.budget import tool_calls_allowed as allowed_tool_calls
from mainspring.agent.events import (
    AgentEvent,
    BudgetStop,
    EventBuffer,
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
from mainspring.agent.recall import recall
from mainspring.agent.toolbox import Toolbox
from mainspring.clock import Clock, utc_now
from mainspring.errors import MainspringError, ModelError
from mainspring.hooks import (
    Hooks,
    Observers,
    RunScope,
    RunSpan,
    Sealer,
    Source,
    ToolCallRecord,
    clean_text,
)
from mainspring.messages import (
    Message,
    ModelResponse,
    StopReason,
    ToolCall,
    ToolError,
    ToolResult,
    Usage,
    status_for,
)
from mainspring.models.base import (
    PROMPT_PRIMING_TOKENS,
    Model,
    ModelSettings,
    ResponseDone,
    ToolDefinition,
    cost_of,
    message_tokens,
    tool_tokens,
)
from mainspring.models.base import TextDelta as ModelTextDelta
from mainspring.models.wrapper import bind_model
from mainspring.tokens import Tokenizer
from mainspring.tools.base import Approver, CallContext, Principal
from mainspring.tools.executor import gather_bounded

logger = logging.getLogger("mainspring.agent")

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
    hooks: tuple[Hooks, ...] = ()
    """Subscribers of every run (audit, telemetry, the executor's sinks)."""
    sealer: Sealer | None = None
    """Keeps secret arguments encrypted in the run record, so a resume can use them."""
    deps: Any = None
    """Handed to tools through `CallContext.deps`; never shown to the model, never recorded."""


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
    """One run of the loop over a journal (fresh, or resuming a recorded run).

    Every model call and tool call of the run is announced on one `RunScope`: the journal, the
    event stream (when streaming) and the agent's hooks (audit, sinks) subscribe to it.
    """

    def __init__(
        self, config: LoopConfig, journal: Journal, *, stream: bool = False, events: bool = True
    ) -> None:
        """`stream`: ask the model for deltas; `events`: hand out tool and reply events."""
        self.config = config
        self.journal = journal
        self.stream = stream
        self.state = RunState(journal.info.run_id, journal.info.task)
        self._started = config.clock.now()
        self._tool_tokens: dict[str, int] = {}
        self._stop: StopReason | None = None
        self._error: str | None = None
        self._sources: list[Source] = []
        repeats = config.budget.max_repeated_calls
        self._progress = None if repeats is None else ProgressTracker(repeats)
        self.buffer = EventBuffer() if events else None
        hooks: list[Hooks] = list(config.hooks)
        if journal.store is not None:
            hooks.append(journal)
        if self.buffer is not None:
            hooks.append(self.buffer)
        self.scope = RunScope(
            run_id=self.state.run_id,
            principal=config.principal.id,
            observers=Observers(hooks, secrets_of=config.toolbox.secrets_of, sealer=config.sealer),
            remaining_seconds=self._remaining_seconds,
        )
        self.model = bind_model(config.model, self.scope)
        self._tokenizer = config.model.tokenizer  # asked per message: read through wrappers once

    def _span(self, resumed: bool = False) -> RunSpan:
        return RunSpan(
            run_id=self.state.run_id,
            task=self.state.task,
            model=self.model.name,
            principal=self.config.principal.id,
            resumed=resumed,
            stop_reason=self._stop,
            usage=self.state.usage,
            error=self._error,
        )

    async def events(self, *, resumed: bool = False) -> AsyncIterator[AgentEvent]:
        """Run to the end, yielding what happens; the last event is `RunFinished`.

        A fault of mainspring or a backend (a run store, Redis, a memory store) ends the run
        with `error` and the fault as its error; any other exception marks the recorded run
        failed before it propagates, so no record is left `running`.
        """
        yield RunStarted(self.state.run_id, self.state.task, resumed)
        try:
            if self.scope.observers.hooks:
                await self.scope.observers.run_started(self._span(resumed))
            await self._begin(resumed)
            while self._stop is None:
                async for event in self._step():
                    yield event
        except MainspringError as exc:
            self._stop, self._error = "error", f"{type(exc).__name__}: {exc}"
        except BaseException as exc:
            await self._abort(exc)
            raise
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
        self.scope.step = state.steps
        self.scope.provenance = tuple(self._sources)
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

    def _drain(self) -> list[AgentEvent]:
        return self.buffer.drain() if self.buffer is not None else []

    # --- the model -------------------------------------------------------------------------

    async def _respond(
        self, tools: list[ToolDefinition]
    ) -> AsyncIterator[AgentEvent | ModelResponse]:
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
            return
        self._take(response)
        for event in self._drain():  # ModelResponded, from the observers
            yield event
        yield response

    async def _call_model(
        self, tools: list[ToolDefinition]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        # The model is bound to this run: it announces the call and holds the run's deadline.
        cfg = self.config
        offered = tools if cfg.protocol == "native" else ()
        settings = cfg.settings
        if cfg.protocol == "react":
            settings = ModelSettings(stop=react.STOP_SEQUENCES).merge(settings)
        if not self.stream:
            yield await self.model.request(self.state.messages, offered, settings)
            return
        async for delta in self.model.stream(self.state.messages, offered, settings):
            if isinstance(delta, ModelTextDelta):
                yield TextDelta(self.state.steps, delta.text)
            elif isinstance(delta, ResponseDone):
                yield delta.response
                return
        raise ModelError(f"{cfg.model.name!r} ended its stream without a response")

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
        planned = self._plan(calls[:allowed])
        if planned is None:
            return
        if self.stream and self.buffer is not None:
            results: list[tuple[ToolResult, bool]] = []
            async for item in self._execute_live(planned, self.buffer):
                if isinstance(item, list):
                    results = item
                else:  # ToolCallStarted / ToolCallFinished, from the observers
                    yield item
        else:
            results = await self._execute(planned)
            for event in self._drain():
                yield event
        for (call, _), (result, replayed) in zip(planned, results, strict=True):
            state.tool_calls += 1
            if replayed:
                yield ToolCallStarted(step, call)
                yield ToolCallFinished(step, result, replayed)
            self._add_result(call, result)
        if allowed < len(calls):
            reason = self._stop or "max_tool_calls"
            for event in await self._refuse(calls[allowed:], reason):
                yield event
            self._stop = reason

    def _progressing(self, calls: tuple[ToolCall, ...]) -> int:
        """How many of `calls` are not a repetition without progress; sets the stop if one is."""
        if self._progress is None:
            return len(calls)
        for index, call in enumerate(calls):
            reason = self._progress.admit(call.name, call.arguments)
            if reason is not None:
                self._stop, self._error = "no_progress", f"stopped: {reason}"
                return index
        return len(calls)

    def _plan(self, calls: tuple[ToolCall, ...]) -> list[tuple[ToolCall, str]] | None:
        """Each call with its idempotency key, or None when one of them must not run."""
        planned: list[tuple[ToolCall, str]] = []
        for call in calls:
            key = idempotency_key(self.state.run_id, self.state.steps, call)
            ready = self._resumable(self.state.steps, call, key)
            if ready is None:
                return None
            planned.append((ready, key))
        return planned

    async def _refuse(self, calls: tuple[ToolCall, ...], reason: StopReason) -> list[AgentEvent]:
        """Answer and record the calls past the tool-call cap (or past a loop without progress).

        Native protocols need one answer per call, and an auditor must see every call the model
        asked for.
        """
        observers = self.scope.observers
        for call in calls:
            result = _not_run(call, reason)
            if observers.hooks:
                record = ToolCallRecord(
                    run_id=self.state.run_id,
                    step=self.state.steps,
                    call=call,
                    principal=self.config.principal.id,
                    time=utc_now(),
                    idempotency_key=idempotency_key(self.state.run_id, self.state.steps, call),
                    provenance=self.scope.provenance,
                )
                record = await observers.tool_started(record)
                await observers.tool_finished(replace(record, result=result))
            self._add_result(call, result, source=False)
        return self._drain()

    def _resumable(self, step: int, call: ToolCall, key: str) -> ToolCall | None:
        """The call to run (its secrets restored on resume), or None when it must not run."""
        if self.journal.recorded_result(key) is not None:
            return call
        if self.journal.interrupted(key) and not self.config.toolbox.idempotent(call.name):
            self._stop = "needs_attention"
            self._error = (
                f"tool call {call.name!r} ({key}) started before the process stopped and its "
                "outcome is unknown; the tool is not idempotent, so it was not run again. "
                "Check its effects, then cancel the run or resume it after recording them."
            )
            return None
        if self.journal.recorded_reply(step) is None:
            return call
        restored = self.journal.restore(step, call)
        if restored is None:
            self._stop = "needs_attention"
            self._error = (
                f"tool call {call.name!r} ({key}) must run on resume but its secret arguments "
                "were not kept (the record has them redacted). Give the agent a sealer= with "
                "the operator's key so secrets are kept encrypted, or pass credentials as deps= "
                "so the model never sends them."
            )
        return restored

    async def _execute_live(
        self, planned: list[tuple[ToolCall, str]], buffer: EventBuffer
    ) -> AsyncIterator[AgentEvent | list[tuple[ToolResult, bool]]]:
        """The calls' events as they happen, then their results (when streaming).

        A consumer must see a call start before it ends, so the events drain while it runs.
        """
        task = asyncio.ensure_future(self._execute(planned))
        try:
            while not task.done():
                arrived = asyncio.ensure_future(buffer.arrived.wait())
                await asyncio.wait({task, arrived}, return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                for event in self._drain():
                    yield event
        finally:
            if not task.done():
                task.cancel()
        for event in self._drain():
            yield event
        yield task.result()

    async def _execute(self, planned: list[tuple[ToolCall, str]]) -> list[tuple[ToolResult, bool]]:
        cfg = self.config
        fresh = [(c, k) for c, k in planned if self.journal.recorded_result(k) is None]
        coros = [
            cfg.toolbox.execute(
                c,
                CallContext(
                    principal=cfg.principal,
                    run_id=self.state.run_id,
                    approver=cfg.approver,
                    idempotency_key=k,
                    deps=cfg.deps,
                    scope=self.scope,
                    # Tool output is capped in the tokens of the model that will read it.
                    tokenizer=self._tokenizer,
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
        out: list[tuple[ToolResult, bool]] = []
        for _, key in planned:
            recorded = self.journal.recorded_result(key)
            out.append((recorded, True) if recorded is not None else (ran[key], False))
        return out

    def _add_result(self, call: ToolCall, result: ToolResult, *, source: bool = True) -> None:
        if self.config.protocol == "native":
            self._add(Message("tool", result.content, tool_call_id=call.id, name=call.name))
        else:
            self._add(Message("user", f"Observation: {result.content}"))
        if source:
            self._sources.append(Source(call.id, call.name))

    # --- state, budget, memory -------------------------------------------------------------

    def _add(self, message: Message) -> None:
        self.state.messages.append(message)
        self.state.tokens.append(message_tokens(self._tokenizer, message))

    def _prompt_tokens(self, tools: Sequence[ToolDefinition]) -> int:
        """`count_prompt_tokens` of the next request, each message and tool counted once."""
        total = PROMPT_PRIMING_TOKENS + sum(self.state.tokens)
        if self.config.protocol == "native":
            for tool in tools:
                cached = self._tool_tokens.get(tool.name)
                if cached is None:
                    cached = tool_tokens(self._tokenizer, tool)
                    self._tool_tokens[tool.name] = cached
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
            model = cfg.model
            text = await recall(
                cfg.memory, self.state.task, cfg.memory_tokens, model.tokenizer, self.scope
            )
            if text:
                system.append(f"What you remember that may be relevant:\n{text}")
        prompt = "\n\n".join(part for part in system if part)
        if prompt:
            self._add(Message("system", prompt))
        self._add(Message("user", self.state.task))
        await self.journal.begin(new=not resumed)

    async def _finish(self, stop: StopReason) -> RunResult:
        state = self.state
        await self.journal.save(
            status=status_for(stop),
            stop_reason=stop,
            output=state.last_text,
            usage=state.usage,
            steps=state.steps,
            tool_calls=state.tool_calls,
            note=self._error,
        )
        memory = self.config.memory
        if memory is not None and stop == "final_answer":
            await memory.add_short_term(clean_text(f"User asked: {state.task}"))
            await memory.add_short_term(clean_text(f"Answer: {state.last_text}"))
        if self.scope.observers.hooks:
            await self.scope.observers.run_finished(self._span())
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

    async def _abort(self, exc: BaseException) -> None:
        """Mark the recorded run ended by `exc` (shielded: a cancelled run is still marked)."""
        # "interrupted" for Ctrl-C or a cancelled task, "failed" for an error; never "cancelled":
        # the run did not choose to stop, and `resume` continues both (it leaves a cancelled
        # one alone).
        stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
        self._stop = "error"
        self._error = f"interrupted by {type(exc).__name__}: {exc}".rstrip(": ")
        with anyio.CancelScope(shield=True):
            try:
                await self.journal.save(
                    status="interrupted" if stopped else "failed",
                    stop_reason=self._stop,
                    usage=self.state.usage,
                    steps=self.state.steps,
                    tool_calls=self.state.tool_calls,
                    note=self._error,
                )
            except Exception:  # the store itself is what failed: the original error matters
                logger.exception("could not mark run %r as ended", self.state.run_id)
            await self.scope.observers.run_finished(self._span())


def _not_run(call: ToolCall, reason: StopReason) -> ToolResult:
    message = (
        "not run: the same call was made too often without progress (max_repeated_calls)"
        if reason == "no_progress"
        else "not run: the run's max_tool_calls budget is spent"
    )
    return ToolResult(
        call.id, False, message, error=ToolError("budget_exceeded", message), tool=call.name
    )
