"""The run's journal: what has already happened (on resume) and the durable record of each step.

The journal is a subscriber of the hooks surface: it stores the model replies and tool calls it
is told about, already redacted (secret values only as the operator's sealed ciphertext).
Checkpoints come before side effects: `ToolStarted` is stored before a tool runs, so a process
killed mid-call leaves evidence that the call may have happened. On resume, recorded model
replies and tool results are reused instead of repeated; an interrupted call is retried only if
its tool is idempotent.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

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

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Record a completed model call (failed calls leave no reply to reuse)."""
        if self.store is not None and record.response is not None:
            event = ModelCalled(record.step, record.response, sealed=record.sealed)
            await self.store.append(self.info.run_id, [event])

    async def tool_started(self, record: ToolCallRecord) -> None:
        """Record the call BEFORE it runs."""
        if self.store is not None:
            event = ToolStarted(
                record.step,
                record.call,
                idempotency_key=record.idempotency_key or "",
                idempotent=record.idempotent,
                sealed=record.sealed,
            )
            await self.store.append(self.info.run_id, [event])

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Record the result right after it exists."""
        if self.store is not None and record.result is not None:
            await self.store.append(self.info.run_id, [ToolFinished(record.step, record.result)])

    async def results(self, step: int, results: list[ToolResult]) -> None:
        """Record results that no tool produced (refusals past a cap)."""
        if self.store is not None and results:
            await self.store.append(self.info.run_id, [ToolFinished(step, r) for r in results])

    async def save(self, **changes: Any) -> None:
        """Update the run's info (status, totals, output) in the store."""
        for text in ("output", "note"):  # text a model or an exception wrote may not encode
            if isinstance(changes.get(text), str):
                changes[text] = clean_text(changes[text])
        self.info = replace(self.info, updated_at=utc_now(), **changes)
        if self.store is not None:
            await self.store.update(self.info)
