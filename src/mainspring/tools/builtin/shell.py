"""`shell_tool()`: a tool that runs a POSIX shell command line in a sandbox."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mainspring.sandbox._report import describe_jail, log_run, report
from mainspring.sandbox.base import Limits, Sandbox
from mainspring.tools.base import Tool
from mainspring.tools.builtin._sandboxed import CodeToolPolicy, build_code_tool, code_sandbox
from mainspring.tools.policy import ApprovalPolicy, BreakerPolicy, RateLimit


def shell_tool(
    sandbox: Sandbox | None = None,
    *,
    limits: Limits | None = None,
    workspace: Path | None = None,
    allow_weaker: bool = False,
    name: str = "shell",
    description: str | None = None,
    timeout: float | None = None,
    rate_limit: str | RateLimit | None = None,
    cache_ttl: float | None = None,
    breaker: int | BreakerPolicy | None = None,
    scopes: Iterable[str] = (),
    requires_approval: ApprovalPolicy = False,
    secrets: Iterable[str] = (),
    idempotent: bool = False,
) -> Tool:
    """Build the `shell` tool: `/bin/sh -c COMMAND` in `sandbox`.

    Args:
        sandbox: where commands run (default: `detect_sandbox(minimum="namespaces")`).
        limits: limits per call (default: the sandbox's own, or `Limits()`).
        workspace: a directory shared by every call (e.g. one per agent run), kept afterwards;
            default: a fresh empty directory per call, deleted after it.
        allow_weaker: with no `sandbox`, accept the process level on a host where the
            namespaced one cannot run, instead of raising `ConfigurationError`.
        name: the tool's name.
        description: replaces the generated description (which states the limits).
        timeout: the wall-clock seconds of each run (replaces `limits.timeout`).
        rate_limit: calls allowed per period, as for `@tool` ("10/min").
        cache_ttl: seconds to cache results (only for code without side effects).
        breaker: failures before the tool's circuit opens, or a `BreakerPolicy`.
        scopes: scopes the calling principal must hold to run code.
        requires_approval: ask the approver in the `CallContext` before every run.
        secrets: parameters to redact in events and audit records.
        idempotent: safe to run twice with the same input (lets a resumed run retry it).
    """
    jail = code_sandbox(sandbox, allow_weaker=allow_weaker, builder="shell_tool")
    policy = CodeToolPolicy(
        name=name,
        description=description,
        timeout=timeout,
        rate_limit=rate_limit,
        cache_ttl=cache_ttl,
        breaker=breaker,
        scopes=scopes,
        requires_approval=requires_approval,
        secrets=secrets,
        idempotent=idempotent,
    )
    run_limits = policy.run_limits(limits or getattr(jail, "limits", None) or Limits())

    async def shell(command: str) -> str:
        """Run a shell command line.

        Args:
            command: the command line, e.g. 'ls -la && wc -l *.txt'.
        """
        result = await jail.run(["/bin/sh", "-c", command], limits=run_limits, workspace=workspace)
        log_run(name, result)
        return report(result, run_limits)

    generated = (
        "Run a POSIX shell (/bin/sh) command line and return its exit code, stdout and "
        f"stderr. {describe_jail(jail, run_limits, workspace)}"
    )
    return build_code_tool(shell, jail, run_limits, policy, generated)
