"""Caching: deterministic tools answer repeated calls from the cache, errors never cached."""

from __future__ import annotations

import hashlib

from mainspring.tools.base import Tool
from mainspring.tools.guards._waits import after_tool, before_tool, may_wait
from mainspring.tools.guards.backend import CacheBackend
from mainspring.tools.guards.base import Handler, Invocation


def cache_key(tool: Tool, canonical_arguments: str) -> str:
    """Tool definition hash + hash of the canonical validated arguments.

    The definition hash means a changed tool (new schema or description) never reads results
    cached by its previous version.
    """
    digest = hashlib.sha256(canonical_arguments.encode()).hexdigest()
    return f"{tool.hash[:32]}:{digest}"


class CacheGuard:
    """Serves hits from the backend; stores successful results for the tool's `cache_ttl`.

    It sits outside the circuit breaker: a hit never reaches the breaker, so it can neither
    claim nor answer the half-open trial, which only a real run of the tool may settle.
    """

    def __init__(self, backend: CacheBackend) -> None:
        self._backend = backend
        self._waits = may_wait(backend)

    def applies(self, tool: Tool) -> bool:
        """Only tools that declare `cache_ttl` (i.e. are deterministic)."""
        return tool.policy.cache_ttl is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Return the cached content, or run and cache it. Exceptions pass uncached."""
        tool = invocation.tool
        key = cache_key(tool, tool.validator.canonical_json(invocation.kwargs))
        get = self._backend.get(key)
        hit = await (before_tool(invocation, "cache", get) if self._waits else get)
        if hit is not None:
            invocation.cached = True
            return hit
        content = await call_next(invocation)
        ttl = tool.policy.cache_ttl
        assert ttl is not None  # applies() guarantees it
        store = self._backend.set(key, content, ttl)
        await (after_tool(invocation, "cache", store) if self._waits else store)
        return content
