"""Prometheus metrics of the service, in a registry of its own (several apps per process in tests).

No label carries a tenant name: tenants are many and their names are other people's data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mainspring.tools.events import ToolCallEvent

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Refusals by a guard, not failures of the tool itself.
_GUARD_KINDS = frozenset(
    {"forbidden", "approval_required", "rate_limited", "circuit_open", "invalid_arguments"}
)


class ServiceMetrics:
    """The service's counters, gauges and histograms; also an `EventSink` for tool calls."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "mainspring_runs", "Runs that reached a status.", ["status"], registry=r
        )
        self.runs_active = Gauge(
            "mainspring_runs_active", "Runs executing in this process.", registry=r
        )
        self.queue_depth = Gauge(
            "mainspring_queue_depth", "Runs accepted and not yet started.", registry=r
        )
        self.awaiting_approval = Gauge(
            "mainspring_runs_awaiting_approval", "Runs waiting for a human decision.", registry=r
        )
        self.model_calls = Counter("mainspring_model_calls", "Model calls.", ["model"], registry=r)
        self.model_seconds = Histogram(
            "mainspring_model_call_duration_seconds",
            "Model call latency.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "mainspring_tokens", "Model tokens.", ["model", "direction"], registry=r
        )
        self.cost = Counter(
            "mainspring_cost_usd", "Dollars spent on models.", ["model"], registry=r
        )
        self.tool_calls = Counter(
            "mainspring_tool_calls", "Tool calls by outcome.", ["tool", "outcome"], registry=r
        )
        self.tool_seconds = Histogram(
            "mainspring_tool_call_duration_seconds",
            "Tool call latency.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "mainspring_guard_refusals", "Tool calls refused by a guard.", ["kind"], registry=r
        )
        self.http_requests = Counter(
            "mainspring_http_requests", "HTTP requests by status code.", ["code"], registry=r
        )
        self.quota_rejections = Counter(
            "mainspring_quota_rejections", "Requests refused over a quota.", ["quota"], registry=r
        )
        self.streams = Gauge("mainspring_event_streams", "Open event streams.", registry=r)

    def model_call(
        self, model: str, seconds: float, input_tokens: int, output_tokens: int, cost: float
    ) -> None:
        """Count one model call."""
        self.model_calls.labels(model).inc()
        self.model_seconds.labels(model).observe(seconds)
        self.tokens.labels(model, "input").inc(input_tokens)
        self.tokens.labels(model, "output").inc(output_tokens)
        self.cost.labels(model).inc(cost)

    async def emit(self, event: ToolCallEvent) -> None:
        """Count one tool call (the executor calls this for each)."""
        kind = event.error_kind
        self.tool_calls.labels(event.tool, "ok" if event.ok else (kind or "error")).inc()
        self.tool_seconds.labels(event.tool).observe(event.latency_ms / 1000)
        if kind in _GUARD_KINDS:
            self.refusals.labels(kind).inc()

    async def aclose(self) -> None:
        """Nothing to flush."""

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
