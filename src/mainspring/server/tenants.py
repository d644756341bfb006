"""Per-tenant state: each tenant's own tool executor (its own statistics) and its quotas."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mainspring.hooks import Hooks
from mainspring.server._db import ServiceDatabase
from mainspring.server.metrics import ServiceMetrics
from mainspring.server.settings import QuotaSettings
from mainspring.tools.base import Tool
from mainspring.tools.events import EventSink
from mainspring.tools.executor import ToolExecutor
from mainspring.tools.guards.backend import GuardBackend
from mainspring.tools.policy import RateLimit
from mainspring.tools.registry import ToolRegistry

ACTIVE_STATUSES = ("queued", "running", "awaiting_approval")


class TenantTools:
    """One `ToolExecutor` per tenant over the same tools and the same shared guard state.

    Rate buckets, breakers and cache live in the one backend (a tool's health is global);
    call statistics live in each tenant's registry, so `GET /v1/tools` shows a tenant its own.
    """

    def __init__(
        self,
        tools: Sequence[Tool],
        backend: GuardBackend,
        sinks: Sequence[EventSink | Hooks],
        *,
        default_timeout: float | None = 60.0,
    ) -> None:
        self.tools: tuple[Tool, ...] = tuple(tools)
        self.backend = backend
        self.sinks = tuple(sinks)
        self.default_timeout = default_timeout
        self._executors: dict[str, ToolExecutor] = {}

    def executor(self, tenant: str) -> ToolExecutor:
        """The tenant's executor (made at first use)."""
        found = self._executors.get(tenant)
        if found is None:
            registry = ToolRegistry(self.tools, backend=self.backend)
            found = ToolExecutor(registry, sinks=self.sinks, default_timeout=self.default_timeout)
            self._executors[tenant] = found
        return found


@dataclass(frozen=True, slots=True)
class QuotaExceeded(Exception):
    """A request over one of the tenant's quotas."""

    quota: str
    message: str
    retry_after: float


def seconds_to_midnight(now: dt.datetime) -> float:
    """Seconds until the daily quotas reset (midnight UTC)."""
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


class Quotas:
    """Checks a tenant's quotas before a run is accepted."""

    def __init__(
        self,
        db: ServiceDatabase,
        settings: QuotaSettings,
        backend: GuardBackend,
        metrics: ServiceMetrics,
    ) -> None:
        self.db = db
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self._rate = RateLimit(settings.runs_per_minute, 60.0)

    def _refuse(self, quota: str, message: str, retry_after: float) -> QuotaExceeded:
        self.metrics.quota_rejections.labels(quota).inc()
        return QuotaExceeded(quota, message, max(1.0, math.ceil(retry_after)))

    async def spent_today(self, tenant: str) -> tuple[int, float]:
        """(tokens, dollars) of the tenant's runs created since midnight UTC."""
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens, "
            "COALESCE(SUM(cost_usd), 0) AS cost FROM runs WHERE tenant = ? AND created_at >= ?",
            (tenant, midnight.isoformat(timespec="milliseconds")),
        )
        assert row is not None  # an aggregate always returns a row
        return int(row["tokens"]), float(row["cost"])

    async def check_new_run(self, tenant: str) -> tuple[int | None, float | None]:
        """Raise `QuotaExceeded`, or return what is left of the day (tokens, dollars)."""
        q = self.settings
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM runs WHERE tenant = ? AND status IN (?,?,?)",
            (tenant, *ACTIVE_STATUSES),
        )
        if row is not None and row["n"] >= q.concurrent_runs:
            raise self._refuse(
                "concurrent_runs",
                f"this tenant already has {row['n']} active runs (the limit is "
                f"{q.concurrent_runs}); wait for one to finish or cancel one",
                5.0,
            )
        tokens_left, usd_left = await self._daily_left(tenant)
        decision = await self.backend.acquire(f"server:runs:{tenant}", self._rate)
        if not decision.allowed:
            raise self._refuse(
                "runs_per_minute",
                f"this tenant may start {q.runs_per_minute} runs a minute; retry later",
                decision.retry_after,
            )
        return tokens_left, usd_left

    async def _daily_left(self, tenant: str) -> tuple[int | None, float | None]:
        q = self.settings
        if q.tokens_per_day is None and q.usd_per_day is None:
            return None, None
        tokens, cost = await self.spent_today(tenant)
        reset = seconds_to_midnight(dt.datetime.now(dt.UTC))
        if q.tokens_per_day is not None and tokens >= q.tokens_per_day:
            raise self._refuse(
                "tokens_per_day",
                f"this tenant used {tokens} of its {q.tokens_per_day} tokens today (UTC)",
                reset,
            )
        if q.usd_per_day is not None and cost >= q.usd_per_day:
            raise self._refuse(
                "usd_per_day",
                f"this tenant spent ${cost:.4f} of its ${q.usd_per_day} today (UTC)",
                reset,
            )
        return (
            None if q.tokens_per_day is None else q.tokens_per_day - tokens,
            None if q.usd_per_day is None else q.usd_per_day - cost,
        )
