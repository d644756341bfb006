"""Logs people can read: the hooks surface as stdlib `logging` under the `mainspring` logger.

`LoggingHooks` writes one line per run start and end, model call and tool call, with the run id,
step and tool as `extra` fields. It never logs arguments, prompts or results, so no secret can
reach a log through it. `configure_logging` installs a handler on the `mainspring` logger: human
text by default, or one JSON object per line (with the current trace and span ids when
OpenTelemetry is installed) for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal, TextIO

from mainspring.hooks import Hooks, ModelCallRecord, RunSpan, ToolCallRecord

try:
    from opentelemetry import trace
except ImportError:  # pragma: no cover - logs work without the otel extra, minus trace ids
    trace = None  # type: ignore[assignment]

logger = logging.getLogger("mainspring.runs")

_FIELDS = ("run_id", "step", "tool", "call_id", "model", "outcome", "latency_ms", "stop_reason")

LogFormat = Literal["text", "json"]


class LoggingHooks(Hooks):
    """Logs what happens in runs: INFO for runs and tool calls, DEBUG for model calls."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger

    async def run_started(self, run: RunSpan) -> None:
        """One line when a run starts or resumes."""
        verb = "resumed" if run.resumed else "started"
        self.log.info(
            "run %s %s (%s, model %s)",
            run.run_id,
            verb,
            run.kind,
            run.model,
            extra={"run_id": run.run_id, "model": run.model},
        )

    async def run_finished(self, run: RunSpan) -> None:
        """One line with the stop reason, tokens and cost; WARNING when it did not answer."""
        level = logging.INFO if run.stop_reason == "final_answer" else logging.WARNING
        self.log.log(
            level,
            "run %s finished: %s (%d tokens, $%.6f)%s",
            run.run_id,
            run.stop_reason,
            run.usage.total_tokens,
            run.usage.cost_usd,
            f": {run.error}" if run.error else "",
            extra={"run_id": run.run_id, "stop_reason": run.stop_reason},
        )

    async def model_finished(self, record: ModelCallRecord) -> None:
        """One DEBUG line per model call; WARNING when it failed."""
        extra = {
            "run_id": record.run_id,
            "step": record.step,
            "model": record.model,
            "latency_ms": round(record.latency_ms, 3),
        }
        if record.response is None:
            self.log.warning(
                "model %s failed at step %d: %s",
                record.model,
                record.step,
                record.error,
                extra={**extra, "outcome": "error"},
            )
            return
        self.log.debug(
            "model %s answered at step %d in %.1f ms",
            record.model,
            record.step,
            record.latency_ms,
            extra={**extra, "outcome": "ok"},
        )

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """One line per tool call: its outcome and latency, never its arguments or result."""
        result = record.result
        if result is None:
            return
        outcome = "ok" if result.error is None else result.error.kind
        self.log.info(
            "tool %s (%s) at step %d: %s in %.1f ms%s",
            record.call.name,
            record.call.id,
            record.step,
            outcome,
            result.latency_ms,
            " (cached)" if result.cached else "",
            extra={
                "run_id": record.run_id,
                "step": record.step,
                "tool": record.call.name,
                "call_id": record.call.id,
                "outcome": outcome,
                "latency_ms": round(result.latency_ms, 3),
            },
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, run fields, trace ids."""

    # UTC timestamps in JSON logs, whatever the host's zone.
    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        data.update(_trace_ids())
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=repr)


def _trace_ids() -> dict[str, str]:
    if trace is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def configure_logging(
    level: int | str = logging.INFO, *, format: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send the `mainspring` logger's records to `stream` (standard error) as text or JSON."""
    if format not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("mainspring")
    root.addHandler(handler)
    root.setLevel(level)
    return handler
