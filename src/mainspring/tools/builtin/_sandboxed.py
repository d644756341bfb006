"""What the `python` and `shell` tools share: the minimum isolation, and their policy.

Model-written code is hostile (docs/security.md), so a code tool built without an explicit
sandbox refuses to run below the `namespaces` level: on a host where bubblewrap cannot run, the
builder raises, naming the level it found and the fix, unless the caller accepts the weaker
level in so many words (`allow_weaker=True`). An explicitly passed sandbox is the caller's
choice and is used as it is; either way the level is logged and starts every result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from mainspring.errors import ConfigurationError
from mainspring.sandbox._report import TIMEOUT_SLACK, logger
from mainspring.sandbox.base import Limits, Sandbox
from mainspring.sandbox.detect import detect_sandbox
from mainspring.tools.base import Tool
from mainspring.tools.decorator import tool
from mainspring.tools.policy import ApprovalPolicy, BreakerPolicy, RateLimit


def code_sandbox(sandbox: Sandbox | None, *, allow_weaker: bool, builder: str) -> Sandbox:
    """`sandbox` itself, or the strongest one here when it is at least `namespaces`.

    Below that, `ConfigurationError` says which level was found, why, and the two fixes,
    unless `allow_weaker` accepts it (logged as a warning).
    """
    if sandbox is not None:
        level = sandbox.isolation.level
        logger.info("%s() uses the sandbox it was given, at level %s", builder, level)
        return sandbox
    try:
        return detect_sandbox(minimum="namespaces")
    except ConfigurationError as exc:
        if not allow_weaker:
            raise ConfigurationError(
                f"{builder}() refuses to run model-written code below the 'namespaces' "
                f"isolation level, and this host only offers 'process' ({exc}). Fix: install "
                "bubblewrap and allow user namespaces (docs/security.md, Production), or "
                f"accept the weaker level explicitly with {builder}(allow_weaker=True) (it "
                "does not hide world-readable files; see docs/security.md for what it does "
                "not stop), or pass a sandbox of your own"
            ) from None
        weak = detect_sandbox()
        logger.warning(
            "%s() runs model-written code at the %s level (allow_weaker=True): %s",
            builder,
            weak.isolation.level,
            exc,
        )
        return weak


@dataclass(frozen=True, slots=True)
class CodeToolPolicy:
    """The `@tool` policy arguments a code tool accepts, gathered to pass them on as one."""

    name: str
    description: str | None = None
    timeout: float | None = None
    rate_limit: str | RateLimit | None = None
    cache_ttl: float | None = None
    breaker: int | BreakerPolicy | None = None
    scopes: Iterable[str] = ()
    requires_approval: ApprovalPolicy = False
    secrets: Iterable[str] = ()
    idempotent: bool = False

    def run_limits(self, base: Limits) -> Limits:
        """The jail's limits per call: `timeout`, when given, is the run's wall clock."""
        return base if self.timeout is None else replace(base, timeout=self.timeout)


def build_code_tool(
    function: Callable[..., Any],
    jail: Sandbox,
    run_limits: Limits,
    policy: CodeToolPolicy,
    generated_description: str,
) -> Tool:
    """The `Tool` for a code-running function: the given policy, the jail recorded on it.

    The function already runs its code in `jail`, so the tool is built without `sandbox=`
    (which would try to jail the builder's own closure) and the jail is recorded afterwards.
    Its timeout exceeds the jail's by `TIMEOUT_SLACK`, so the jail, which kills the whole
    process tree and reports the partial output, fires first.
    """
    built = tool(
        name=policy.name,
        description=policy.description or generated_description,
        timeout=run_limits.timeout + TIMEOUT_SLACK,
        rate_limit=policy.rate_limit,
        cache_ttl=policy.cache_ttl,
        breaker=policy.breaker,
        scopes=policy.scopes,
        requires_approval=policy.requires_approval,
        secrets=policy.secrets,
        idempotent=policy.idempotent,
    )(function)
    return replace(built, policy=replace(built.policy, sandbox=jail))
