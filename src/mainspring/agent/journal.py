"""The run's journal: what has already happened (on resume) and the durable record of each step.

The journal is a subscriber of the hooks surface: it stores the model replies and tool calls it
is told about, already redacted (secret values only as the operator's sealed ciphertext).
Checkpoints come before side effects: `ToolStarted` is stored before a tool runs, so a process
killed mid-call leaves evidence that the call may have happened. On resume, recorded model
replies and tool results are reused instead of repeated; an interrupted call is retried only if
its tool is idempotent.

One commit per step: a model reply is held until the step's next write and stored with it (the
tool calls' `ToolStarted`, or the run's end), so the reply and the intents of a step share one
transaction, durable BEFORE any tool runs. Results (`ToolFinished`) are queued as they come and
stored while the run goes on; every queued write is durable before the next model call is sent
and before the run's end is recorded. A process killed in between loses at most results whose
calls then count as interrupted: re-run if the tool is idempotent, never silently otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from mainspring._writer import settled
from mainspring.clock import utc_now
from mainspring.hooks import (
    Hooks,
    ModelCallRecord,
    Sealer,
    ToolCallRecord,
    clean_text,
    redacted_params,
    restore_call,
    unseal_arguments,
)
from mainspring.messages import ModelResponse, ToolCall, ToolResult
from mainspring.runs.base import (
    ModelCalled,
    RunInfo,
    RunRecord,
    RunStore,
    ToolFinished,
    ToolStarted,
)

logger = logging.getLogger("mainspring.agent")
Event = ModelCalled | ToolStarted | ToolFinished


def idempotency_key(run_id: str, step: int, call: ToolCall) -> str:
    """Stable across resumes of one run: run id + step + the model's call id."""
    return f"{run_id}:{step}:{call.id}"


class Journal(Hooks):
    """Recorded history to reuse, and a store to write new history to (either may be absent)."""

    def __init__(
        self,
        store: RunStore | None,
        info: RunInfo,
        record: RunRecord | None = None,
        *,
        sealer: Sealer | None = None,
    ):
        self.store = store
        self.info = info
        self.sealer = sealer
        self._replies: dict[int, ModelResponse] = {}
        self._sealed: dict[int, str] = {}
        self._results: dict[str, ToolResult] = {}
        self._interrupted: set[str] = set()
        self._held: list[Event] = []
        """Events stored with the run's next write (a model reply waits for its step's intents)."""
        self._queued: list[asyncio.Future[None]] = []
        """Results being stored while the run goes on; awaited before the next model call."""
        if record is not None:
            self._load(record)

    def _load(self, record: RunRecord) -> None:
        keys: dict[tuple[int, str], str] = {}
        for event in record.events:
            if isinstance(event, ModelCalled):
                self._replies[event.step] = event.response
                if event.sealed is not None:
                    self._sealed[event.step] = event.sealed
            elif isinstance(event, ToolStarted):
                keys[(event.step, event.call.id)] = event.idempotency_key
                self._interrupted.add(event.idempotency_key)
            else:
                key = keys.get((event.step, event.result.call_id))
                if key is not None:
                    self._results[key] = event.result
                    self._interrupted.discard(key)

    @property
    def resuming(self) -> bool:
        """True while recorded history remains to be replayed."""
        return bool(self._replies)

    def recorded_reply(self, step: int) -> ModelResponse | None:
        """The model's recorded reply for `step`, if the run got that far before."""
        return self._replies.get(step)

    def recorded_result(self, key: str) -> ToolResult | None:
        """The recorded result of a tool call that finished before."""
        return self._results.get(key)

    def interrupted(self, key: str) -> bool:
        """Whether a tool call started before and its outcome was never recorded."""
        return key in self._interrupted

    def restore(self, step: int, call: ToolCall) -> ToolCall | None:
        """A recorded call ready to run again: its secrets unsealed, or None if they are lost."""
        missing = redacted_params(call)
        if not missing:
            return call
        sealed = unseal_arguments(self.sealer, self._sealed.get(step))
        values = (sealed or {}).get(call.id)
        if not isinstance(values, dict) or not set(missing) <= set(values):
            return None
        return restore_call(call, values)

    async def begin(self, *, new: bool) -> None:
        """Store the run's info (new runs) or mark it running again (resumed runs)."""
        if self.store is None:
            return
        if new:
            self.info = replace(self.info, task=clean_text(self.info.task))
            await self.store.create(self.info)
        else:
            await self.save(status="running", note=None)

    async def model_started(self, record: ModelCallRecord) -> None:
        """Everything the run wrote so far is durable before the next model call is sent."""
        if self.store is not None:
            await self.flush()

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Hold a completed model call's reply for the step's next write (failed calls: none)."""
        if self.store is not None and record.response is not None:
            self._held.append(ModelCalled(record.step, record.response, sealed=record.sealed))

    async def tool_started(self, record: ToolCallRecord) -> None:
        """Record the call (and the reply that asked for it) BEFORE it runs."""
        if self.store is not None:
            event = ToolStarted(
                record.step,
                record.call,
                idempotency_key=record.idempotency_key or "",
                idempotent=record.idempotent,
                sealed=record.sealed,
            )
            await self.flush(event)

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Queue the result as soon as it exists; it is stored while the run goes on."""
        if self.store is not None and record.result is not None:
            events = [ToolFinished(record.step, record.result)]
            soon = getattr(self.store, "append_soon", None)  # a store that queues without a task
            if soon is not None:
                queued: asyncio.Future[None] = soon(self.info.run_id, events)
            else:
                queued = asyncio.ensure_future(self.store.append(self.info.run_id, events))
            queued.add_done_callback(_log_failure)
            self._queued.append(queued)

    async def results(self, step: int, results: list[ToolResult]) -> None:
        """Record results that no tool produced (refusals past a cap)."""
        if self.store is not None and results:
            await self.flush(*(ToolFinished(step, r) for r in results))

    async def flush(self, *events: Event) -> None:
        """Wait for the queued results, then store the held events and `events` together."""
        if self.store is None:
            return
        if self._queued:
            queued, self._queued = self._queued, []
            await settled(queued)
        if self._held or events:
            batch, self._held = [*self._held, *events], []
            await self.store.append(self.info.run_id, batch)

    async def save(self, **changes: Any) -> None:
        """Update the run's info (status, totals, output) in the store."""
        for text in ("output", "note"):  # text a model or an exception wrote may not encode
            if isinstance(changes.get(text), str):
                changes[text] = clean_text(changes[text])
        self.info = replace(self.info, updated_at=utc_now(), **changes)
        if self.store is not None:
            await self.flush()
            await self.store.update(self.info)


def _log_failure(queued: asyncio.Future[None]) -> None:
    # A result that could not be stored leaves its call interrupted in the record, as a crash
    # would; the run itself goes on (the call already happened).
    if not queued.cancelled() and queued.exception() is not None:
        logger.error("could not record a tool result", exc_info=queued.exception())
