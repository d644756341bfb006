"""The run's journal: what has already happened (on resume) and the durable record of each step.

Checkpoints come before side effects: `ToolStarted` is stored before a tool runs, so a process
killed mid-call leaves evidence that the call may have happened. On resume, recorded model
replies and tool results are reused instead of repeated; an interrupted call is retried only if
its tool is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mainspring.messages import ModelResponse, ToolCall, ToolResult
from mainspring.runs.base import (
    ModelCalled,
    RunInfo,
    RunRecord,
    RunStore,
    ToolFinished,
    ToolStarted,
    utc_now,
)


def idempotency_key(run_id: str, step: int, call: ToolCall) -> str:
    """Stable across resumes of one run: run id + step + the model's call id."""
    return f"{run_id}:{step}:{call.id}"


class Journal:
    """Recorded history to reuse, and a store to write new history to (either may be absent)."""

    def __init__(self, store: RunStore | None, info: RunInfo, record: RunRecord | None = None):
        self.store = store
        self.info = info
        self._replies: dict[int, ModelResponse] = {}
        self._results: dict[str, ToolResult] = {}
        self._interrupted: set[str] = set()
        if record is not None:
            self._load(record)

    def _load(self, record: RunRecord) -> None:
        keys: dict[tuple[int, str], str] = {}
        for event in record.events:
            if isinstance(event, ModelCalled):
                self._replies[event.step] = event.response
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

    async def begin(self, *, new: bool) -> None:
        """Store the run's info (new runs) or mark it running again (resumed runs)."""
        if self.store is None:
            return
        if new:
            await self.store.create(self.info)
        else:
            await self.save(status="running", note=None)

    async def model_called(self, step: int, response: ModelResponse) -> None:
        """Record a completed model call."""
        if self.store is not None:
            await self.store.append(self.info.run_id, [ModelCalled(step, response)])

    async def tools_started(self, step: int, calls: Sequence[tuple[ToolCall, str, bool]]) -> None:
        """Record (call, key, idempotent) triples BEFORE the calls run."""
        if self.store is not None and calls:
            events = [ToolStarted(step, c, idempotency_key=k, idempotent=i) for c, k, i in calls]
            await self.store.append(self.info.run_id, events)

    async def tools_finished(self, step: int, results: Sequence[ToolResult]) -> None:
        """Record tool results right after they exist."""
        if self.store is not None and results:
            await self.store.append(self.info.run_id, [ToolFinished(step, r) for r in results])

    async def save(self, **changes: object) -> None:
        """Update the run's info (status, totals, output) in the store."""
        self.info = replace(self.info, updated_at=utc_now(), **changes)  # type: ignore[arg-type]
        if self.store is not None:
            await self.store.update(self.info)
