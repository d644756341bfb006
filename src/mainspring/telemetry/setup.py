"""Telemetry switched on by the standard `OTEL_*` variables, as in every OpenTelemetry SDK.

The library never reads the environment itself: the CLI (or your program) passes a mapping,
usually `os.environ`, and gets back the hooks to give to an `Agent` plus the providers to shut
down at exit (which flushes batched spans and the last metrics).

Variables read: `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` and `OTEL_METRICS_EXPORTER`
(`console`, `otlp`, `none`; comma-separated lists allowed; unset means `none` here, so nothing is
exported unless asked for), `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT` (the OTLP/HTTP
base URL; `/v1/traces` and `/v1/metrics` are appended) and
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`. The OTLP exporters read their other
standard variables (headers, timeouts, compression) themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from mainspring.errors import ConfigurationError, MissingExtraError
from mainspring.telemetry.conventions import CAPTURE_CONTENT_VARIABLE
from mainspring.telemetry.otel import OpenTelemetryHooks

try:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("OpenTelemetry exporters", "otel") from exc

_EXPORTERS = frozenset({"console", "otlp", "none"})


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What `telemetry_from_environment` set up: hooks for agents and providers to shut down."""

    hooks: OpenTelemetryHooks
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    def shutdown(self) -> None:
        """Flush and stop the exporters (call once, at exit)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _names(environ: Mapping[str, str], variable: str) -> list[str]:
    raw = environ.get(variable, "none")
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = sorted(set(names) - _EXPORTERS)
    if unknown:
        raise ConfigurationError(
            f"{variable}={raw!r}: unknown exporter {', '.join(map(repr, unknown))}; "
            "use console, otlp or none"
        )
    return [name for name in names if name != "none"]


def _flag(environ: Mapping[str, str], variable: str) -> bool:
    return environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")


def _otlp_url(environ: Mapping[str, str], path: str) -> str | None:
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return None if not base else base.rstrip("/") + path


def _span_exporter(name: str, environ: Mapping[str, str], stream: TextIO) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=stream)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise MissingExtraError("OTLP trace export", "otel") from exc
    return OTLPSpanExporter(endpoint=_otlp_url(environ, "/v1/traces"))


def _metric_exporter(name: str, environ: Mapping[str, str], stream: TextIO) -> MetricExporter:
    if name == "console":
        return ConsoleMetricExporter(out=stream)
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        raise MissingExtraError("OTLP metric export", "otel") from exc
    return OTLPMetricExporter(endpoint=_otlp_url(environ, "/v1/metrics"))


def telemetry_from_environment(
    environ: Mapping[str, str], *, stream: TextIO | None = None, agent_name: str | None = None
) -> Telemetry | None:
    """Providers and hooks as the `OTEL_*` variables in `environ` ask; None when none are asked.

    Console output goes to `stream` (standard error by default, so a command's own output on
    standard output stays machine-readable).
    """
    if _flag(environ, "OTEL_SDK_DISABLED"):
        return None
    traces = _names(environ, "OTEL_TRACES_EXPORTER")
    metric_names = _names(environ, "OTEL_METRICS_EXPORTER")
    if not traces and not metric_names:
        return None
    out = stream or sys.stderr
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "mainspring")})
    tracer_provider: TracerProvider | None = None
    if traces:
        tracer_provider = TracerProvider(resource=resource)
        for name in traces:
            exporter = _span_exporter(name, environ, out)
            # Console: each span as it ends (a short CLI run must show them); OTLP: batched.
            processor = (
                SimpleSpanProcessor(exporter) if name == "console" else BatchSpanProcessor(exporter)
            )
            tracer_provider.add_span_processor(processor)
    meter_provider: MeterProvider | None = None
    if metric_names:
        readers: list[MetricReader] = [
            PeriodicExportingMetricReader(_metric_exporter(name, environ, out))
            for name in metric_names
        ]
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    hooks = OpenTelemetryHooks(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=_flag(environ, CAPTURE_CONTENT_VARIABLE),
        agent_name=agent_name,
    )
    return Telemetry(hooks, tracer_provider, meter_provider)
