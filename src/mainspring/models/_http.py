"""HTTP plumbing shared by the provider adapters: retries, Retry-After, errors, SSE lines.

Retries follow what providers ask for: 429 and 5xx (and 408/409, which OpenAI and Anthropic
document as retryable) and connection failures are retried with exponential backoff and full
jitter; a `Retry-After` (seconds or an HTTP date) replaces the computed delay. A stream is only
retried before its first byte: once text has reached the caller, a retry would repeat it.
"""

from __future__ import annotations

import asyncio
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


class HTTPTransport:
    """POSTs JSON to one endpoint with retries; owns an httpx client per event loop.

    The API key lives only in `headers`, which are never logged, repr'd or put in errors.
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
    ) -> None:
        self.url = url
        self._headers = dict(headers)
        self.model = model
        self.retry = retry
        self.timeout = timeout
        self._given_client = client
        self._clients: dict[int, httpx.AsyncClient] = {}

    def __repr__(self) -> str:
        return f"HTTPTransport(url={self.url!r})"

    def _client(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        # An httpx pool belongs to the event loop that opened its connections; `run_sync`
        # starts a new loop per run, so each loop gets its own client.
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient()
            self._clients = {loop: client}
        return client

    async def _send(
        self, payload: Mapping[str, Any], http_timeout: float | None, *, stream: bool
    ) -> httpx.Response:
        client = self._client()
        attempt = 0
        while True:
            request = client.build_request(
                "POST", self.url, json=payload, headers=self._headers,
                timeout=http_timeout or self.timeout,
            )  # fmt: skip
            try:
                response = await client.send(request, stream=stream)
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
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
