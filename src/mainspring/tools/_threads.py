"""Where plain `def` tools run: a long-lived thread pool, entered without anyio's machinery.

With the process on one CPU, `anyio.to_thread.run_sync` costs about 80 µs a call (a cancel
scope, a capacity limiter, a per-call channel) and `loop.run_in_executor` on a pool that lives
as long as the process about 50 µs; on an idle VM both cost 120-140 µs, most of it waking a
halted vCPU. The function runs in a copy of the caller's context, as with anyio (a tracing span
or a request id set in a context variable is seen by the tool).

Timeouts keep their meaning: cancelling the waiting task (the timeout guard does) abandons the
call, since a thread cannot be killed; a call still queued behind busy threads never starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_THREADS = 40
"""Plain `def` tool calls that run at once in a process (anyio's default, as before); more wait."""

_pool: list[ThreadPoolExecutor] = []
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    if not _pool:
        with _lock:
            if not _pool:
                _pool.append(ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="mainspring-tool"))
    return _pool[0]


async def run_in_thread(function: Callable[[], Any]) -> Any:
    """Run `function` in the pool and wait for it; cancelling the wait abandons the call."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), context.run, function)
