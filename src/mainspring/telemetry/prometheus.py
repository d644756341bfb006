"""`PrometheusHooks`: the hooks surface as Prometheus metrics in a `prometheus-client` registry.

For programs (and the HTTP service) that are scraped rather than pushed to. Names are prefixed
`mainspring_`; labels are closed sets (tool, model, kind, outcome), never a run id, a tenant or a
principal, so cardinality stays bounded.
"""

from __future__ import annotations

from mainspring.errors import MissingExtraError
from mainspring.hooks import Hooks, ModelCallRecord, RunSpan, ToolCallRecord
from mainspring.telemetry.conventions import DURATION_BUCKETS, GUARD_REFUSALS

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("Prometheus metrics", "otel") from exc


class PrometheusHooks(Hooks):
    """Counts runs, model calls, tokens, cost, tool calls and guard refusals.

    Args:
        registry: where the metrics live; expose it with `prometheus_client.generate_latest`.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter("mainspring_runs", "Finished runs", ["kind", "stop_reason"], registry=r)
        self.model_calls = Counter(
            "mainspring_model_calls", "Model calls", ["model", "outcome"], registry=r
        )
        self.model_latency = Histogram(
            "mainspring_model_call_duration_seconds",
            "Model call latency",
            ["model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("mainspring_tokens", "Tokens used", ["model", "type"], registry=r)
        self.cost = Counter("mainspring_cost_usd", "Model cost in USD", ["model"], registry=r)
        self.tool_calls = Counter(
            "mainspring_tool_calls", "Tool calls", ["tool", "outcome", "cached"], registry=r
        )
        self.tool_latency = Histogram(
            "mainspring_tool_call_duration_seconds",
            "Tool call latency",
            ["tool"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "mainspring_guard_refusals", "Calls refused by a guard", ["kind"], registry=r
        )

    async def run_finished(self, run: RunSpan) -> None:
        """Count the run by kind and stop reason."""
        self.runs.labels(run.kind, run.stop_reason or "error").inc()

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Count the call, its latency, tokens and cost."""
        response = record.response
        self.model_calls.labels(record.model, "ok" if response is not None else "error").inc()
        self.model_latency.labels(record.model).observe(record.latency_ms / 1000)
        if response is not None:
            self.tokens.labels(record.model, "input").inc(response.usage.input_tokens)
            self.tokens.labels(record.model, "output").inc(response.usage.output_tokens)
            if response.usage.cost_usd:
                self.cost.labels(record.model).inc(response.usage.cost_usd)

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Count the call by outcome; refusals by kind too."""
        result = record.result
        if result is None:
            return
        outcome = "ok" if result.error is None else result.error.kind
        self.tool_calls.labels(record.call.name, outcome, str(result.cached).lower()).inc()
        self.tool_latency.labels(record.call.name).observe(result.latency_ms / 1000)
        if outcome in GUARD_REFUSALS:
            self.refusals.labels(outcome).inc()
