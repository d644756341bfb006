"""Waiting on a guard backend (e.g. Redis) without letting it outlive the call or blame the tool.

Before the tool runs, a backend wait is cut at the call's deadline and any failure becomes
`UnavailableError`: the tool did not run, so the call is safe to retry. After the tool ran, its
outcome is what matters: the bookkeeping (a cache write, a breaker record) gets until the deadline,
or a short grace when the deadline has already passed (a timed-out call's failure still has to be
recorded), and a failure there is logged, never allowed to replace the tool's result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from mainspring.errors import BackendError, UnavailableError
from mainspring.tools.guards.base import Invocation

_T = TypeVar("_T")

BOOKKEEPING_GRACE = 0.1
"""Seconds an outcome's bookkeeping may run past the deadline (Redis answers in ~1 ms)."""

logger = logging.getLogger("mainspring.tools")


def may_wait(backend: object) -> bool:
    """Whether waits on `backend` need bounding: False for backends that never await I/O.

    A backend declares `never_waits = True` (the in-process one does) when every method returns
    without suspending; guards then skip the deadline scope, which costs ~5 µs per wait.
    """
    return not getattr(backend, "never_waits", False)


async def before_tool(invocation: Invocation, what: str, awaitable: Awaitable[_T]) -> _T:
    """Await a backend decision the tool's run depends on; failure is `UnavailableError`."""
    name = invocation.tool.name
    deadline = invocation.start_deadline()
    try:
        if deadline is None:
            return await awaitable
        async with asyncio.timeout_at(deadline):
            return await awaitable
    except TimeoutError:
        raise UnavailableError(
            f"the {what} backend did not answer within the call's {invocation.time_limit:g}s "
            f"time limit, so {name!r} was not run; retry later or use another tool"
        ) from None
    except BackendError as exc:
        raise UnavailableError(
            f"the {what} backend failed ({exc}), so {name!r} was not run; "
            "retry later or use another tool"
        ) from exc


async def after_tool(invocation: Invocation, what: str, awaitable: Awaitable[None]) -> None:
    """Await bookkeeping about an outcome the tool already produced; failure is only logged."""
    deadline = invocation.deadline
    try:
        if deadline is None:
            await awaitable
            return
        now = asyncio.get_running_loop().time()
        async with asyncio.timeout_at(max(deadline, now + BOOKKEEPING_GRACE)):
            await awaitable
    except Exception as exc:
        # The tool ran: losing its result over a bookkeeping failure would invite a repeat of
        # its side effects. The record is lost instead, and said so.
        logger.warning(
            "the %s update for tool %r failed after the tool ran; its outcome is kept: %s: %s",
            what,
            invocation.tool.name,
            type(exc).__name__,
            exc,
        )
