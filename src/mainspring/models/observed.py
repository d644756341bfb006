"""`ObservedModel`: every call announced on the hooks surface (audit, journal, events, telemetry).

This is how the audit log sees every model call, whoever makes it: the loop, the planner, the
plan's synthesis, a memory summariser given the agent's model. Bound to a run, records carry the
run's id, principal and step and go to the run's observers; unbound, they go to the agent's own
(audit) observers with no run id.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from mainspring.clock import utc_now
from mainspring.errors import ModelError
from mainspring.hooks import ModelCallRecord, Observers, RunScope
from mainspring.messages import Message, ModelResponse
from mainspring.models.base import Model, ModelDelta, ModelSettings, ResponseDone, ToolDefinition
from mainspring.models.wrapper import WrapperModel


class ObservedModel(WrapperModel):
    """Announces each call's start and outcome to the observers."""

    def __init__(
        self, wrapped: Model, observers: Observers, *, scope: RunScope | None = None
    ) -> None:
        super().__init__(wrapped, scope=scope)
        self.observers = observers

    def _targets(self) -> Observers:
        return self.scope.observers if self.scope is not None else self.observers

    def _record(self) -> ModelCallRecord:
        scope = self.scope
        return ModelCallRecord(
            run_id=scope.run_id if scope else None,
            step=scope.step if scope else 0,
            call_id=scope.model_call_id() if scope else "model",
            model=self.name,
            principal=scope.principal if scope else None,
            time=utc_now(),
        )

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """The reply, announced before and after."""
        observers = self._targets()
        if not observers.hooks:
            return await self.wrapped.request(messages, tools, settings)
        record = self._record()
        await observers.model_started(record)
        started = time.perf_counter()
        try:
            response = await self.wrapped.request(messages, tools, settings)
        except (ModelError, TimeoutError) as exc:
            await self._failed(observers, record, started, exc)
            raise
        await observers.model_finished(_done(record, started, response=response))
        return response

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The stream, announced before its first delta and after its `ResponseDone`."""
        observers = self._targets()
        record = self._record()
        if observers:
            await observers.model_started(record)
        started = time.perf_counter()
        try:
            async for delta in self.wrapped.stream(messages, tools, settings):
                if isinstance(delta, ResponseDone) and observers:
                    response = delta.response
                    await observers.model_finished(_done(record, started, response=response))
                yield delta
        except (ModelError, TimeoutError) as exc:
            if observers:
                await self._failed(observers, record, started, exc)
            raise

    async def _failed(
        self, observers: Observers, record: ModelCallRecord, started: float, exc: Exception
    ) -> None:
        error = str(exc) or f"{type(exc).__name__}: the call ran out of time"
        await observers.model_finished(_done(record, started, error=error))


def _done(
    record: ModelCallRecord,
    started: float,
    *,
    response: ModelResponse | None = None,
    error: str | None = None,
) -> ModelCallRecord:
    latency = (time.perf_counter() - started) * 1000
    return ModelCallRecord(
        run_id=record.run_id,
        step=record.step,
        call_id=record.call_id,
        model=record.model,
        principal=record.principal,
        time=record.time,
        response=response,
        error=error,
        latency_ms=latency,
    )
