"""Telemetry: OpenTelemetry GenAI spans and metrics, Prometheus metrics, readable logs.

Each is a subscriber of the hooks surface (`mainspring.hooks`): give it to an `Agent` with
`hooks=[...]`. The OpenTelemetry and Prometheus parts need the `otel` extra
(`pip install 'mainspring[otel]'`) and are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.telemetry.logs import JsonFormatter, LoggingHooks, configure_logging

if TYPE_CHECKING:
    from mainspring.telemetry.otel import OpenTelemetryHooks
    from mainspring.telemetry.prometheus import PrometheusHooks
    from mainspring.telemetry.setup import Telemetry, telemetry_from_environment

_LAZY = {
    "OpenTelemetryHooks": "mainspring.telemetry.otel",
    "PrometheusHooks": "mainspring.telemetry.prometheus",
    "Telemetry": "mainspring.telemetry.setup",
    "telemetry_from_environment": "mainspring.telemetry.setup",
}


__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "JsonFormatter",
    "LoggingHooks",
    "OpenTelemetryHooks",
    "PrometheusHooks",
    "Telemetry",
    "configure_logging",
    "telemetry_from_environment",
]
