"""Providers: the connection half of an HTTP model (auth, base URL, HTTP client, retries).

A `Model` adapts one wire format; a `Provider` supplies everything about reaching the server:
the base URL, the credentials (as headers, never logged, repr'd or put in errors), the pooled
httpx clients and the retry policy. One provider can serve several models of one server, which
then share its connections and what it learned about the server (see
`OpenAIProvider.output_modes`). `OpenAIModel` and `AnthropicModel` build their
provider from `api_key=`, `base_url=`, `retry=`, `timeout=` and `client=` when they are not given
one.

A stream is retried only before its first byte: once text has reached the caller, a retry would
repeat it. Which failures are retried, and how long to wait, is `mainspring.models.retry`'s call.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import json
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from mainspring.errors import ConfigurationError, ModelError, ModelHTTPError, ModelResponseError
from mainspring.models.retry import (
    Failure,
    RetryPolicy,
    log_retry,
    should_retry,
    status_failure,
)
from mainspring.models.structured import OutputMode

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def shown(url: str) -> str:
    """`url` without any user:password part, for logs, errors and reprs."""
    return str(httpx.URL(url).copy_with(userinfo=b""))


def check_base_url(base_url: str) -> str:
    """`base_url` without a trailing slash; a clear error when httpx cannot use it."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(
            f"base_url must be an http:// or https:// URL with a host; httpx says: {exc}"
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url {shown(base_url)!r} must be an http:// or https:// URL with a host, "
            "e.g. 'http://127.0.0.1:8000/v1'"
        )
    return base_url.rstrip("/")


def transport_failure(exc: httpx.TransportError, url: str) -> Failure:
    """How a failure to get any answer is treated (the rules are in `mainspring.models.retry`)."""
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Failure(f"unsupported URL scheme ({exc})", 0)
    if isinstance(exc, httpx.TimeoutException):
        return Failure(f"{type(exc).__name__} (no answer in time)", None)
    causes = list(_causes(exc))
    dns = [c for c in causes if isinstance(c, socket.gaierror)]
    if dns:
        # EAI_AGAIN is a resolver that could not answer now; the rest say the name has no address.
        temporary = any(c.errno == socket.EAI_AGAIN for c in dns)
        return Failure(f"DNS lookup failed ({dns[0]})", 1 if temporary else 0)
    if isinstance(exc, httpx.ConnectError) and _refused(causes):
        if _is_local(url):
            return Failure("connection refused (is the server on this machine running?)", 1)
        return Failure("connection refused", None)
    return Failure(f"{type(exc).__name__}: {exc}", None)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of any exception group."""
    stack, seen = [exc], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _refused(causes: list[BaseException]) -> bool:
    oses = [c for c in causes if isinstance(c, OSError) and c.errno is not None]
    if oses:
        return all(c.errno == errno.ECONNREFUSED for c in oses)
    # anyio reports "All connection attempts failed" when every address refused, and some
    # backends keep only the text.
    return any("refused" in str(c).lower() for c in causes)


def _is_local(url: str) -> bool:
    host = httpx.URL(url).host
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # 0.0.0.0 and :: reach this machine when connected to (what servers print as their address).
    return address.is_loopback or address.is_unspecified


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


class Provider:
    """POSTs JSON to one server with retries; owns its httpx clients, per event loop.

    Args:
        base_url: the API root; paths given to `post` and `stream` are appended to it.
        headers: sent with every request (credentials go here; they are never shown).
        retry: which failures to retry and how long to wait (`RetryPolicy()` by default).
        timeout: seconds per HTTP attempt unless a call says otherwise.
        client: an httpx client to use instead of the provider's own pools (the caller closes
            it).
        shards: without a `client`, requests are spread over this many pools...
        connections: ...of this many connections each.
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
        shards: int = 8,
        connections: int = 8,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._headers = dict(headers or {})
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.shards = shards
        self.connections = connections
        self._given_client = client
        self._pools: dict[int, _ShardedPool] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={shown(self.base_url)!r})"

    def url(self, path: str) -> str:
        """The full URL of an API path."""
        return f"{self.base_url}/{path.lstrip('/')}"

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
        self,
        path: str,
        payload: Mapping[str, Any],
        http_timeout: float | None,
        *,
        model: str,
        stream: bool,
    ) -> httpx.Response:
        url = self.url(path)
        where = shown(url)
        attempt, previous = 0, None
        while True:
            request = httpx.Request(
                "POST", url, json=payload, headers=self._headers,
                extensions={"timeout": httpx.Timeout(http_timeout or self.timeout).as_dict()},
            )  # fmt: skip
            try:
                response = await self._attempt(request, stream)
            except httpx.TransportError as exc:
                failure = transport_failure(exc, url)
                if not should_retry(failure, previous, attempt, self.retry):
                    raise ModelError(
                        f"could not reach {where} for {model!r} after {attempt + 1} "
                        f"attempt{'s' * bool(attempt)}: {failure.reason} "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
            else:
                if response.status_code < 400:
                    return response
                body = (await response.aread()).decode("utf-8", errors="replace")
                await response.aclose()
                failure = status_failure(response.status_code, body, response.headers)
                if not should_retry(failure, previous, attempt, self.retry):
                    raise ModelHTTPError(response.status_code, body, response.headers, model=model)
            wait = self.retry.delay(attempt, failure.retry_after)
            log_retry(model, where, failure, attempt, self.retry, wait)
            await anyio.sleep(wait)
            attempt, previous = attempt + 1, failure

    async def post(
        self, path: str, payload: Mapping[str, Any], http_timeout: float | None, *, model: str
    ) -> dict[str, Any]:
        """The JSON object the server answers at `path`, after retries."""
        response = await self._send(path, payload, http_timeout, model=model, stream=False)
        try:
            value = response.json()
        except ValueError:
            raise ModelResponseError(
                f"{model!r} answered with invalid JSON: {response.text[:300]!r}"
            ) from None
        if not isinstance(value, dict):
            raise ModelResponseError(f"{model!r} answered with a non-object: {value!r:.300}")
        return value

    @asynccontextmanager
    async def stream(
        self, path: str, payload: Mapping[str, Any], http_timeout: float | None, *, model: str
    ) -> AsyncIterator[AsyncIterator[tuple[str, dict[str, Any]]]]:
        """Server-sent events as `(event, data)` pairs; retried only before the first byte."""
        response = await self._send(path, payload, http_timeout, model=model, stream=True)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = (await response.aread()).decode("utf-8", errors="replace")
            await response.aclose()
            raise ModelResponseError(
                f"{model!r} answered a streaming request with plain JSON: {body[:300]!r}"
            )
        try:
            yield _events(response, model)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the clients this provider opened (not one passed in)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            for client in pool.clients:
                await client.aclose()


class OpenAIProvider(Provider):
    """OpenAI or any server speaking its API (vLLM, Ollama, llama.cpp, llama-cpp-python).

    `api_key` is sent as a bearer token; servers that need none get no `Authorization` header.
    """

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = OPENAI_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(base_url, headers=headers, retry=retry, timeout=timeout, client=client)
        self.output_modes: dict[str, OutputMode] = {}
        """The structured-output mode each model of this server accepted (see `structured`)."""


class AnthropicProvider(Provider):
    """Anthropic's Messages API: `x-api-key` and the `anthropic-version` header."""

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = ANTHROPIC_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
        version: str = ANTHROPIC_VERSION,
    ) -> None:
        headers = {"anthropic-version": version}
        if api_key:
            headers["x-api-key"] = api_key
        super().__init__(base_url, headers=headers, retry=retry, timeout=timeout, client=client)


async def _events(
    response: httpx.Response, model: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    event = "message"
    try:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield event, _decode(data, model)
                event = "message"
    except httpx.TransportError as exc:
        raise ModelError(f"stream from {model!r} broke off: {exc}") from None


def _decode(data: str, model: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise ModelResponseError(f"{model!r} streamed invalid JSON: {data[:300]!r}") from None
    if not isinstance(value, dict):
        raise ModelResponseError(f"{model!r} streamed a non-object: {data[:300]!r}")
    return value
