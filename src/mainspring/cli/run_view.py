"""What `mainspring run` shows while a run goes: steps, tool calls, the model's text as it streams.

The model's words are written as they arrive, so the answer appears once, while it is being
written; the summary at the end repeats it only when it differs from what was shown (a ReAct
reply, whose answer is one part of the text).
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.status import Status

from mainspring.agent import (
    AgentEvent,
    BudgetStop,
    ModelRequestStarted,
    ModelResponded,
    RunResult,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)


def describe(event: AgentEvent) -> str | None:
    """One plain line per event worth showing (model text aside); None for the rest."""
    if isinstance(event, ModelRequestStarted):
        return f"step {event.step}: asking the model ({event.prompt_tokens} prompt tokens)"
    if isinstance(event, ToolCallStarted):
        return f"  -> {event.call.name}({json.dumps(event.call.arguments)})"
    if isinstance(event, ToolCallFinished):
        r = event.result
        outcome = "ok" if r.ok else (r.error.kind if r.error else "error")
        return f"  <- {r.tool}: {outcome}: {r.content[:200]}"
    if isinstance(event, ModelResponded) and event.response.message.content:
        return f"  model: {event.response.message.content[:200]}"
    if isinstance(event, BudgetStop):
        return f"budget reached: {event.reason}"
    return None


def summary(result: RunResult, *, shown: str | None = None) -> list[str]:
    """The closing lines: the answer (unless `shown` already was it), the error, the totals."""
    usage = result.usage
    lines = []
    if shown is None or result.output.strip() != shown.strip():
        lines.append(f"answer: {result.output}" if result.output else "answer: (none)")
    if result.error:
        lines.append(f"error: {result.error}")
    lines.append(
        f"stop: {result.stop_reason}  steps: {result.steps}  tool calls: {result.tool_calls}  "
        f"tokens: {usage.input_tokens} in / {usage.output_tokens} out  "
        f"cost: ${usage.cost_usd:.6f}  run: {result.run_id}"
    )
    return lines


class RunView:
    """Prints a run's events on a console; remembers the run id and the last text shown."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.run_id: str | None = None
        self.sub_runs: list[str] = []
        """Step runs of a plan run, marked interrupted with it on Ctrl-C."""
        self.last_text: str | None = None
        self._streamed: list[str] = []
        self._status: Status | None = None

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _wait(self, text: str) -> None:
        if self.console.is_terminal and self._status is None:
            self._status = self.console.status(text)
            self._status.start()

    def _stop_waiting(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _end_stream(self) -> None:
        if self._streamed:
            self.console.file.write("\n")
            self.console.file.flush()
            self.last_text = "".join(self._streamed)
            self._streamed = []

    def apply(self, event: AgentEvent) -> None:
        """Show one event."""
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
        if self.quiet:
            return
        if isinstance(event, TextDelta):
            self._stop_waiting()
            if not self._streamed:
                self.console.file.write("  model: ")
            self._streamed.append(event.text)
            self.console.file.write(event.text)
            self.console.file.flush()
            return
        self._stop_waiting()
        if isinstance(event, ModelResponded):
            if self._streamed:
                self._end_stream()
                return
            if event.response.message.content:
                self.last_text = event.response.message.content
                self._print(f"  model: {event.response.message.content}")
            return
        self._end_stream()
        line = describe(event)
        if line is not None:
            self._print(line)
        if isinstance(event, ModelRequestStarted):
            self._wait("waiting for the model...")

    def close(self) -> None:
        """Stop any spinner and end a half-written line."""
        self._stop_waiting()
        self._end_stream()
