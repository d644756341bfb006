"""Replay a recorded run: the recorded model replies and tool results, nothing called or paid.

With another model, the same task runs against that model while tool calls are answered from the
record where they match (same tool, same arguments, in order); the report says where the two runs
diverge. Useful for debugging, regression tests and model comparisons.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from mainspring.agent.events import AgentEvent, RunFinished, ToolCallStarted
from mainspring.agent.journal import Journal
from mainspring.agent.loop import AgentLoop, LoopConfig
from mainspring.agent.toolbox import Toolbox
from mainspring.clock import utc_now
from mainspring.errors import ModelError
from mainspring.hooks import ToolCallRecord, redact_call
from mainspring.messages import (
    Message,
    ModelResponse,
    ToolCall,
    ToolError,
    ToolResult,
    call_signature,
)
from mainspring.models.base import (
    Model,
    ModelDelta,
    ModelSettings,
    Pricing,
    ToolDefinition,
    response_deltas,
)
from mainspring.models.deadline import DeadlineModel
from mainspring.runs.base import ModelCalled, RunInfo, RunRecord, ToolFinished, ToolStarted
from mainspring.tokens import Tokenizer, default_tokenizer
from mainspring.tools.base import CallContext, Principal


class RecordedModel:
    """Answers each step with the reply recorded for it; asking past the record is an error."""

    def __init__(self, record: RunRecord, tokenizer: Tokenizer | None = None) -> None:
        self.name = f"replay:{record.info.model or 'unknown'}"
        self.tokenizer = tokenizer or default_tokenizer()
        self.pricing: Pricing | None = None
        self._replies = [e.response for e in record.events if isinstance(e, ModelCalled)]
        self._next = 0

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """The next recorded reply."""
        if self._next >= len(self._replies):
            raise ModelError(
                f"the record has {len(self._replies)} model replies and the replay asked for "
                "another: the run was recorded before it finished"
            )
        reply = self._replies[self._next]
        self._next += 1
        return reply

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The next recorded reply, as the deltas its stream carried."""
        for delta in response_deltas(await self.request(messages, tools, settings)):
            yield delta


def _signature(call: ToolCall) -> str:
    return call_signature(call.name, call.arguments)


@dataclass
class RecordedToolbox:
    """Tool results from the record, matched by tool and arguments in order; never executes."""

    record: RunRecord
    definitions_from: Toolbox | None = None
    """Where tool definitions come from (the model under test needs them); none for pure replay."""
    max_concurrency: int = 16

    def __post_init__(self) -> None:
        started = {
            (e.step, e.call.id): e.call for e in self.record.events if isinstance(e, ToolStarted)
        }
        self._pending: list[tuple[str, ToolResult]] = []
        for event in self.record.events:
            if isinstance(event, ToolFinished):
                call = started.get((event.step, event.result.call_id))
                if call is not None:
                    self._pending.append((_signature(call), event.result))

    async def definitions(self, principal: Principal) -> list[ToolDefinition]:
        """The real toolbox's definitions when given, else none."""
        if self.definitions_from is None:
            return []
        return await self.definitions_from.definitions(principal)

    def idempotent(self, name: str) -> bool:
        """Replayed results are never re-run, so every call is as good as idempotent."""
        return True

    def secrets_of(self, name: str) -> frozenset[str]:
        """The real toolbox's secrets (the record already has them redacted)."""
        if self.definitions_from is None:
            return frozenset()
        return self.definitions_from.secrets_of(name)

    async def execute(self, call: ToolCall, ctx: CallContext) -> ToolResult:
        """The first unused recorded result for the same call, or a divergence.

        Announced on the run's observers like an executed call, so the replay's event stream
        shows it.
        """
        scope = ctx.scope
        record: ToolCallRecord | None = None
        if scope is not None and scope.observers:
            record = ToolCallRecord(
                run_id=ctx.run_id,
                step=scope.step,
                call=call,
                principal=ctx.principal.id,
                time=utc_now(),
                idempotency_key=ctx.idempotency_key,
            )
            record = await scope.observers.tool_started(record)
        result = self._answer(call)
        if scope is not None and record is not None:
            await scope.observers.tool_finished(replace(record, result=result))
        return result

    def _answer(self, call: ToolCall) -> ToolResult:
        # The record holds calls redacted: compare the live call the same way.
        wanted = _signature(redact_call(call, self.secrets_of(call.name))[0])
        for index, (signature, result) in enumerate(self._pending):
            if signature == wanted:
                del self._pending[index]
                return ToolResult(
                    call.id,
                    result.ok,
                    result.content,
                    error=result.error,
                    latency_ms=0.0,
                    cached=True,
                    tool=call.name,
                )
        message = "replay: this call was not made in the recorded run, so it has no result"
        return ToolResult(
            call.id, False, message, error=ToolError("tool_error", message), tool=call.name
        )


class Replay:
    """One replay of a record: iterate `events()`, then read `divergences`."""

    def __init__(self, record: RunRecord, config: LoopConfig, *, model: Model | None = None):
        self.record = record
        self.toolbox = RecordedToolbox(record, config.toolbox if model is not None else None)
        # A model under test still gets the run's deadline; nothing of a replay is audited.
        self.config = replace(
            config,
            model=DeadlineModel(model) if model is not None else RecordedModel(record),
            toolbox=self.toolbox,
            memory=None,
            hooks=(),
            sealer=None,
        )
        self._calls: dict[int, list[str]] = {}
        self.answer: str | None = None

    async def events(self) -> AsyncIterator[AgentEvent]:
        """The replayed run's events, as a live run would yield them."""
        info = RunInfo(
            run_id=self.record.info.run_id + "-replay",
            task=self.record.info.task,
            model=self.config.model.name,
        )
        async for event in AgentLoop(self.config, Journal(None, info)).events():
            if isinstance(event, ToolCallStarted):
                self._calls.setdefault(event.step, []).append(_signature(event.call))
            elif isinstance(event, RunFinished):
                self.answer = event.result.output
            yield event

    @property
    def divergences(self) -> list[str]:
        """Where this run differs from the record: tool calls per step, then the answer."""
        recorded: dict[int, list[str]] = {}
        for event in self.record.events:
            if isinstance(event, ToolStarted):
                recorded.setdefault(event.step, []).append(_signature(event.call))
        found = []
        for step in sorted(set(recorded) | set(self._calls)):
            before, now = recorded.get(step, []), self._calls.get(step, [])
            if before != now:
                was, now_text = before or "no tool calls", now or "no tool calls"
                found.append(f"step {step}: recorded {was}, now {now_text}")
        if self.answer is not None and self.answer != (self.record.info.output or ""):
            found.append(f"answer: recorded {self.record.info.output!r}, now {self.answer!r}")
        return found
