"""HTTP plumbing shared by the provider adapters: retries, Retry-After, errors, SSE lines.

Retries follow what providers ask for: 429 and 5xx (and 408/409, which OpenAI and Anthropic
document as retryable) and connection failures are retried with exponential backoff and full
jitter; a `Retry-After` (seconds or an HTTP date) replaces the computed delay. A stream is only
retried before its first byte: once text has reached the caller, a retry would repeat it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx

from mainspring.errors import ModelError, ModelHTTPError, ModelResponseError

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a model call retries transient failures."""

    max_retries: int = 4
    """Retries after the first attempt (0 disables retrying)."""
    initial_delay: float = 0.5
    """Seconds before the first retry; doubles each time, with full jitter."""
    max_delay: float = 20.0
    """Cap on one computed backoff delay."""
    max_retry_after: float = 60.0
    """A server asking to wait longer than this gets a `ModelHTTPError` instead of a wait."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_delay, self.initial_delay * 2**attempt)
        # Full jitter (AWS architecture blog): spreads retries of many clients apart.
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, `Retry-After` (seconds or HTTP date), or None."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _ShardedPool:
    """Several small httpx clients used in turn, each behind a limiter of its size.

    httpcore's pool rescans every connection (polling each socket) and every queued request
    whenever a request starts or ends, so its cost per request grows with the pool: one pool of
    50 busy connections spent ~6 ms of CPU per request here. Small pools keep that scan short,
    and the limiters keep waiting requests out of httpcore's queue.
    """

    def __init__(self, shards: int, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        tls = httpx.create_ssl_context()  # one CA bundle load (~40 ms), not one per shard
        self.clients = [httpx.AsyncClient(limits=limits, verify=tls) for _ in range(shards)]
        self.limiters = [anyio.CapacityLimiter(connections) for _ in range(shards)]
        self._turn = itertools.cycle(range(shards))

    def pick(self) -> tuple[httpx.AsyncClient, anyio.CapacityLimiter]:
        index = next(self._turn)
        return self.clients[index], self.limiters[index]


class HTTPTransport:
    """POSTs JSON to one endpoint with retries; owns its httpx clients, per event loop.

    The API key lives only in `headers`, which are never logged, repr'd or put in errors.
    Without a `client`, requests are spread over `shards` pools of `connections` each.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        model: str,
        retry: RetryPolicy,
        timeout: float,
        client: httpx.AsyncClient | None = None,
        shards: int = 8,
        connections: int = 8,
    ) -> None:
        self.url = url
        self.shards = shards
        self.connections = connections
        self._headers = dict(headers)
        self.model = model
        self.retry = retry
        self.timeout = timeout
        self._given_client = client
        self._pools: dict[int, _ShardedPool] = {}

    def __repr__(self) -> str:
        return f"HTTPTransport(url={self.url!r})"

    def _client(self) -> tuple[httpx.AsyncClient, anyio.CapacityLimiter | None]:
        if self._given_client is not None:
            return self._given_client, None
        # An httpx pool belongs to the event loop that opened its connections; `run_sync`
        # starts a new loop per run, so each loop gets its own pools.
        loop = id(asyncio.get_running_loop())
        pool = self._pools.get(loop)
        if pool is None:
            pool = _ShardedPool(self.shards, self.connections)
            self._pools = {loop: pool}
        return pool.pick()

    async def _attempt(self, request: httpx.Request, stream: bool) -> httpx.Response:
        client, limiter = self._client()
        if limiter is None:
            return await client.send(request, stream=stream)
        async with limiter:
            return await client.send(request, stream=stream)

    async def _send(
        self, payload: Mapping[str, Any], http_timeout: float | None, *, stream: bool
    ) -> httpx.Response:
        attempt = 0
        while True:
            request = httpx.Request(
                "POST", self.url, json=payload, headers=self._headers,
                extensions={"timeout": httpx.Timeout(http_timeout or self.timeout).as_dict()},
            )  # fmt: skip
            try:
                response = await self._attempt(request, stream)
            except httpx.TransportError as exc:
                if attempt >= self.retry.max_retries:
                    raise ModelError(
                        f"could not reach {self.url} for {self.model!r} after {attempt + 1} "
                        f"attempts: {type(exc).__name__}: {exc}"
                    ) from None
                await anyio.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            body = (await response.aread()).decode("utf-8", errors="replace")
            await response.aclose()
            wait = parse_retry_after(response.headers)
            retryable = response.status_code in RETRYABLE_STATUS
            if (
                retryable
                and attempt < self.retry.max_retries
                and (wait is None or wait <= self.retry.max_retry_after)
            ):
                await anyio.sleep(self.retry.delay(attempt, wait))
                attempt += 1
                continue
            raise ModelHTTPError(response.status_code, body, response.headers, model=self.model)

    async def post(self, payload: Mapping[str, Any], http_timeout: float | None) -> dict[str, Any]:
        """The JSON object the endpoint answers, after retries."""
        response = await self._send(payload, http_timeout, stream=False)
        try:
            value = response.json()
        except ValueError:
            raise ModelResponseError(
                f"{self.model!r} answered with invalid JSON: {response.text[:300]!r}"
            ) from None
        if not isinstance(value, dict):
            raise ModelResponseError(f"{self.model!r} answered with a non-object: {value!r:.300}")
        return value

    @asynccontextmanager
    async def stream(
        self, payload: Mapping[str, Any], http_timeout: float | None
    ) -> AsyncIterator[AsyncIterator[tuple[str, dict[str, Any]]]]:
        """Server-sent events as `(event, data)` pairs; retried only before the first byte."""
        response = await self._send(payload, http_timeout, stream=True)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = (await response.aread()).decode("utf-8", errors="replace")
            await response.aclose()
            raise ModelResponseError(
                f"{self.model!r} answered a streaming request with plain JSON: {body[:300]!r}"
            )
        try:
            yield self._events(response)
        finally:
            await response.aclose()

    async def _events(self, response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        event = "message"
        try:
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    yield event, self._decode(data)
                    event = "message"
        except httpx.TransportError as exc:
            raise ModelError(f"stream from {self.model!r} broke off: {exc}") from None

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError:
            raise ModelResponseError(
                f"{self.model!r} streamed invalid JSON: {data[:300]!r}"
            ) from None
        if not isinstance(value, dict):
            raise ModelResponseError(f"{self.model!r} streamed a non-object: {data[:300]!r}")
        return value

    async def aclose(self) -> None:
        """Close the clients this transport opened (not one passed in)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            for client in pool.clients:
                await client.aclose()
