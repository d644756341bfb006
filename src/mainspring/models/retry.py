"""Which failed model calls deserve another attempt, and how long to wait before it.

A retry helps only when the failure can go away on its own: a rate limit (429), an overloaded
or restarting server (502, 503, 504, Anthropic's 529), a timeout, a dropped connection. It cannot
help a request the server rejects for what it is (400, 401, 404, 422, ...), a URL whose scheme
httpx cannot speak, or a host name that does not exist; those fail at once. Two failures are
ambiguous and get one more attempt, not the whole budget: a refused connection to this machine
(a local server restarting is plausible, one that is simply not running is likelier) and a 500
(a bug in the server answers the same request the same way: when the second 500 repeats the
first one's body, the call gives up).

Waits are exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): a uniform draw between 0 and the capped exponential, which spreads the retries of many
clients best. A `Retry-After` (or `retry-after-ms`) header replaces the draw. Each retry logs one
line under `mainspring.models` saying what failed, which attempt is next and the wait.

This module decides on statuses and policies only; what an httpx transport error means is
`provider.transport_failure`'s call, beside the HTTP client.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

logger = logging.getLogger("mainspring.models")

RETRYABLE_STATUS = frozenset({408, 409, 429, 502, 503, 504, 529})
"""Statuses providers document as transient (OpenAI and Anthropic list 408 and 409 too)."""

AMBIGUOUS_STATUS = frozenset({500})
"""Retried once more only while the server's answer changes (see the module docstring)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a model call retries transient failures.

    Pass one to a model or provider: `resolve_model("openai:gpt-4o", retry=RetryPolicy(...))`.
    """

    max_retries: int = 4
    """Retries after the first attempt (0 disables retrying)."""
    initial_delay: float = 0.5
    """Cap of the first retry's wait in seconds; the cap doubles with each retry."""
    max_delay: float = 20.0
    """Largest cap of one computed wait."""
    max_retry_after: float = 60.0
    """A server asking to wait longer than this gets a `ModelHTTPError` instead of a wait."""

    def __post_init__(self) -> None:
        for name in ("max_retries", "initial_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, not {getattr(self, name)!r}")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based): full jitter, or Retry-After."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_delay, self.initial_delay * 2**attempt)
        return random.uniform(0.0, ceiling)


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


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, as the retry loop sees it."""

    reason: str
    """What failed, for the log line and the final error ("HTTP 503", "connection refused")."""
    retries: int | None
    """How many retries this kind of failure may use in all: None for the policy's whole
    budget, 0 for none, 1 for one."""
    retry_after: float | None = None
    fingerprint: str = ""
    """Identifies a repeated answer (the status and body of a 500)."""


def status_failure(status: int, body: str, headers: Mapping[str, str]) -> Failure:
    """How an HTTP error status is treated."""
    wait = parse_retry_after(headers)
    if status in RETRYABLE_STATUS:
        return Failure(f"HTTP {status}", None, wait)
    if status in AMBIGUOUS_STATUS:
        return Failure(f"HTTP {status}", None, wait, fingerprint=f"{status}:{body}")
    return Failure(f"HTTP {status}", 0, wait)


def retries_allowed(failure: Failure, policy: RetryPolicy) -> int:
    """How many retries a call failing this way may make in all."""
    budget = policy.max_retries if failure.retries is None else failure.retries
    return min(budget, policy.max_retries)


def should_retry(
    failure: Failure, previous: Failure | None, attempt: int, policy: RetryPolicy
) -> bool:
    """Whether retry number `attempt` (0-based) may follow `failure`."""
    if attempt >= retries_allowed(failure, policy):
        return False
    if failure.retry_after is not None and failure.retry_after > policy.max_retry_after:
        return False
    # The same 500 twice in a row is the server's deterministic answer, not a passing fault.
    repeated = previous is not None and failure.fingerprint == previous.fingerprint
    return not (failure.fingerprint and repeated)


def log_retry(
    model: str, url: str, failure: Failure, attempt: int, policy: RetryPolicy, wait: float
) -> None:
    """One line per retry: the call, why it failed, the next attempt of how many, the wait."""
    logger.warning(
        "retrying %s (%s) after %s: attempt %d of at most %d in %.2f s",
        model,
        url,
        failure.reason,
        attempt + 2,
        retries_allowed(failure, policy) + 1,
        wait,
    )
