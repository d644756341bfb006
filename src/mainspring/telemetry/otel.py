"""`OpenTelemetryHooks`: runs, model calls and tool calls as GenAI spans and metrics.

One more subscriber of the hooks surface (`mainspring.hooks`), so it sees exactly what the audit
log and the journal see, already redacted: every model call (loop, planner, synthesis,
summariser) and every tool call, whoever makes it.

Spans follow the GenAI conventions: `invoke_agent` per run (a plan run and its step sub-runs
nest), `chat {model}` per model call and `execute_tool {name}` per tool call, children of their
run. While a tool runs its span is the current context, so spans made inside the tool (the MCP
SDK's `MCP send tools/call`, an HTTP client's) join the same trace. Guard refusals are span
events carrying the error kind. Content (prompts, arguments, results) is recorded only when
`capture_content` is on; it is the redacted form, as in the audit log.
"""

from __future__ import annotations

import json
import re
import time
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from mainspring.errors import MissingExtraError
from mainspring.hooks import Hooks, ModelCallRecord, RetrievalRecord, RunSpan, ToolCallRecord
from mainspring.telemetry import conventions as gen

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("OpenTelemetry tracing", "otel") from exc

_INSTRUMENTATION = "mainspring"

# Every sandboxed tool's text starts with the isolation that was in force (sandbox/_report.py).
_ISOLATION = re.compile(r"^\[sandbox: ([a-z_]+)\]")


@dataclass(slots=True)
class _Open:
    """A span this subscriber started and has not ended yet."""

    span: Span
    token: Token[Context] | None
    started: float


def split_model_name(name: str) -> tuple[str, str]:
    """`provider:model` into (provider, model); a bare name is its own provider."""
    provider, sep, model = name.partition(":")
    return (provider, model) if sep else (name, name)


class OpenTelemetryHooks(Hooks):
    """Emits GenAI spans and metrics for everything announced on the hooks surface.

    Args:
        tracer_provider: where spans go; the global provider when omitted.
        meter_provider: where metrics go; the global provider when omitted.
        capture_content: record prompts' replies, tool arguments and results (redacted) on
            spans. Off by default, as the GenAI conventions require.
        agent_name: `gen_ai.agent.name` on run spans.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool = False,
        agent_name: str | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_INSTRUMENTATION, meter_provider=meter_provider)
        self.capture_content = capture_content
        self.agent_name = agent_name
        self._open: dict[tuple[str, ...], _Open] = {}
        self._duration = meter.create_histogram(
            gen.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(gen.DURATION_BUCKETS),
        )
        self._tokens = meter.create_histogram(
            gen.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Measures number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(gen.TOKEN_BUCKETS),
        )
        self._tool_calls = meter.create_counter(
            gen.METRIC_TOOL_CALLS, unit="{call}", description="Tool calls by tool and outcome"
        )
        self._refusals = meter.create_counter(
            gen.METRIC_GUARD_REFUSALS, unit="{call}", description="Guard refusals by kind"
        )
        self._run_duration = meter.create_histogram(
            gen.METRIC_RUN_DURATION, unit="s", description="Run duration by stop reason"
        )
        self._runs = meter.create_counter(
            gen.METRIC_RUNS, unit="{run}", description="Finished runs by kind and stop reason"
        )
        self._cost = meter.create_counter(
            gen.METRIC_COST, unit="USD", description="Model cost of finished runs"
        )
        self._breaker = meter.create_gauge(
            gen.METRIC_BREAKER_OPEN,
            description="1 when a tool's last call found its circuit breaker open, else 0",
        )

    # --- runs ------------------------------------------------------------------------------

    async def run_started(self, run: RunSpan) -> None:
        """Open the run's `invoke_agent` span and make it current for the run's calls."""
        name = gen.OP_INVOKE_AGENT if run.kind == "agent" else f"{gen.OP_INVOKE_AGENT} plan"
        if self.agent_name:
            name = f"{gen.OP_INVOKE_AGENT} {self.agent_name}"
        provider, model = split_model_name(run.model)
        attributes: dict[str, Any] = {
            gen.OPERATION_NAME: gen.OP_INVOKE_AGENT,
            gen.PROVIDER_NAME: provider,
            gen.REQUEST_MODEL: model,
            gen.CONVERSATION_ID: run.run_id,
            gen.RUN_ID: run.run_id,
            gen.RUN_KIND: run.kind,
        }
        if self.agent_name:
            attributes[gen.AGENT_NAME] = self.agent_name
        self._start(("run", run.run_id), name, attributes, parent=None, current=True)

    async def run_finished(self, run: RunSpan) -> None:
        """Close the run's span with its stop reason, usage and cost; count the run."""
        opened = self._open.pop(("run", run.run_id), None)
        if opened is None:
            return
        span = opened.span
        stop = run.stop_reason or "error"
        span.set_attribute(gen.STOP_REASON, stop)
        span.set_attribute(gen.USAGE_INPUT_TOKENS, run.usage.input_tokens)
        span.set_attribute(gen.USAGE_OUTPUT_TOKENS, run.usage.output_tokens)
        span.set_attribute(gen.COST_USD, run.usage.cost_usd)
        if stop == "error" or run.error is not None and stop != "final_answer":
            span.set_status(Status(StatusCode.ERROR, run.error or stop))
            span.set_attribute(gen.ERROR_TYPE, stop)
        labels = {gen.RUN_KIND: run.kind, gen.STOP_REASON: stop}
        self._runs.add(1, labels)
        self._run_duration.record(time.perf_counter() - opened.started, labels)
        if run.usage.cost_usd:
            self._cost.add(run.usage.cost_usd, {gen.RUN_KIND: run.kind})
        self._end(opened)

    # --- model calls -----------------------------------------------------------------------

    async def model_started(self, record: ModelCallRecord) -> None:
        """Open a `chat {model}` span under the run."""
        provider, model = split_model_name(record.model)
        attributes: dict[str, Any] = {
            gen.OPERATION_NAME: gen.OP_CHAT,
            gen.PROVIDER_NAME: provider,
            gen.REQUEST_MODEL: model,
            gen.STEP: record.step,
        }
        if record.run_id is not None:
            attributes[gen.RUN_ID] = record.run_id
        key = ("model", record.run_id or "", str(record.step), record.call_id)
        self._start(key, f"{gen.OP_CHAT} {model}", attributes, parent=record.run_id)

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Close the model span with usage, finish reason and errors; record both metrics."""
        key = ("model", record.run_id or "", str(record.step), record.call_id)
        opened = self._open.pop(key, None)
        if opened is None:
            return
        span = opened.span
        provider, model = split_model_name(record.model)
        labels: dict[str, Any] = {
            gen.OPERATION_NAME: gen.OP_CHAT,
            gen.PROVIDER_NAME: provider,
            gen.REQUEST_MODEL: model,
        }
        response = record.response
        if response is None:
            span.set_status(Status(StatusCode.ERROR, record.error or "model call failed"))
            span.set_attribute(gen.ERROR_TYPE, "model_error")
            labels[gen.ERROR_TYPE] = "model_error"
        else:
            response_model = split_model_name(response.model or record.model)[1]
            span.set_attribute(gen.RESPONSE_MODEL, response_model)
            span.set_attribute(gen.RESPONSE_FINISH_REASONS, [response.finish_reason])
            span.set_attribute(gen.USAGE_INPUT_TOKENS, response.usage.input_tokens)
            span.set_attribute(gen.USAGE_OUTPUT_TOKENS, response.usage.output_tokens)
            labels[gen.RESPONSE_MODEL] = response_model
            for kind, count in (
                ("input", response.usage.input_tokens),
                ("output", response.usage.output_tokens),
            ):
                self._tokens.record(count, {**labels, gen.TOKEN_TYPE: kind})
            if self.capture_content:
                span.set_attribute(gen.OUTPUT_MESSAGES, _output_messages(record))
        self._duration.record(time.perf_counter() - opened.started, labels)
        self._end(opened)

    # --- tool calls ------------------------------------------------------------------------

    async def tool_started(self, record: ToolCallRecord) -> None:
        """Open an `execute_tool {name}` span, current while the tool runs."""
        call = record.call
        attributes: dict[str, Any] = {
            gen.OPERATION_NAME: gen.OP_EXECUTE_TOOL,
            gen.TOOL_NAME: call.name,
            gen.TOOL_CALL_ID: call.id,
            gen.STEP: record.step,
        }
        if record.run_id is not None:
            attributes[gen.RUN_ID] = record.run_id
        if self.capture_content:
            attributes[gen.TOOL_CALL_ARGUMENTS] = _json(call.arguments)
        key = ("tool", record.run_id or "", str(record.step), call.id)
        name = f"{gen.OP_EXECUTE_TOOL} {call.name}"
        self._start(key, name, attributes, parent=record.run_id, current=True)

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Close the tool span; refusals become events with their kind; count the call."""
        key = ("tool", record.run_id or "", str(record.step), record.call.id)
        opened = self._open.pop(key, None)
        result = record.result
        outcome = "ok" if result is None or result.error is None else result.error.kind
        labels = {gen.TOOL_NAME: record.call.name, gen.TOOL_OUTCOME: outcome}
        cached = bool(result is not None and result.cached)
        self._tool_calls.add(1, {**labels, gen.TOOL_CACHED: cached})
        if outcome in gen.GUARD_REFUSALS:
            self._refusals.add(1, {gen.ERROR_TYPE: outcome, gen.TOOL_NAME: record.call.name})
        if outcome != "internal" and outcome != "unavailable":
            # The breaker is what the last call saw: open refuses, anything the tool answered
            # (well or not) means it let the call through.
            self._breaker.set(int(outcome == "circuit_open"), {gen.TOOL_NAME: record.call.name})
        if opened is None:
            return
        span = opened.span
        span.set_attribute(gen.TOOL_OUTCOME, outcome)
        span.set_attribute(gen.TOOL_CACHED, cached)
        isolation = _ISOLATION.match(result.content) if result is not None else None
        if isolation is not None:
            span.set_attribute(gen.ISOLATION, isolation.group(1))
        if result is not None and result.error is not None:
            if outcome in gen.GUARD_REFUSALS:
                span.add_event(
                    "mainspring.guard.refusal",
                    {gen.ERROR_TYPE: outcome, "message": result.error.message[:500]},
                )
            span.set_status(Status(StatusCode.ERROR, result.error.message[:500]))
            span.set_attribute(gen.ERROR_TYPE, outcome)
        if self.capture_content and result is not None:
            span.set_attribute(gen.TOOL_CALL_RESULT, result.content)
        self._end(opened)

    # --- memory ----------------------------------------------------------------------------

    async def memory_retrieved(self, record: RetrievalRecord) -> None:
        """A `retrieval` span under the run, over the time the memory was read."""
        run = self._open.get(("run", record.run_id))
        ctx = trace.set_span_in_context(run.span) if run is not None else None
        span = self.tracer.start_span(
            gen.OP_RETRIEVAL, context=ctx, kind=SpanKind.INTERNAL, start_time=record.started_ns
        )
        span.set_attributes(
            {
                gen.OPERATION_NAME: gen.OP_RETRIEVAL,
                gen.RUN_ID: record.run_id,
                gen.STEP: record.step,
                gen.RETRIEVAL_MAX_TOKENS: record.max_tokens,
            }
        )
        if record.tokens is not None:
            span.set_attribute(gen.RETRIEVAL_TOKENS, record.tokens)
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=record.started_ns + int(record.latency_ms * 1e6))

    # --- span bookkeeping ------------------------------------------------------------------

    def _start(
        self,
        key: tuple[str, ...],
        name: str,
        attributes: dict[str, Any],
        *,
        parent: str | None,
        current: bool = False,
    ) -> None:
        run = self._open.get(("run", parent)) if parent is not None else None
        # Under its run when the run is known here; otherwise under whatever is current (a
        # call made outside any run, or a run whose subscriber list lacks this one).
        ctx = trace.set_span_in_context(run.span) if run is not None else None
        span = self.tracer.start_span(name, context=ctx, kind=SpanKind.INTERNAL)
        span.set_attributes(attributes)
        token = otel_context.attach(trace.set_span_in_context(span)) if current else None
        self._open[key] = _Open(span, token, time.perf_counter())

    def _end(self, opened: _Open) -> None:
        # Detach only where we attached: a span ended from another task must not pop that
        # task's context (contextvars would raise; OTel would log an error).
        if opened.token is not None and trace.get_current_span() is opened.span:
            otel_context.detach(opened.token)
        opened.span.end()


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _output_messages(record: ModelCallRecord) -> str:
    response = record.response
    if response is None:
        return "[]"
    message = response.message
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    return _json([{"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}])
