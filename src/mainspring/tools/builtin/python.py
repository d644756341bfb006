"""`python_tool()`: a tool that runs Python code in a sandbox, never in this process.

An in-process evaluator (exec with restricted globals, AST filters) is not a sandbox: Python's
introspection reaches every object from any other, so the code always runs in a child process
jail here, under an interpreter the sandbox uid may execute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from mainspring.sandbox._interpreter import find_interpreter
from mainspring.sandbox._interpreter import mounts_for as _mounts_for
from mainspring.sandbox._report import describe_jail, log_run, report
from mainspring.sandbox.base import Limits, Sandbox
from mainspring.tools.base import Tool
from mainspring.tools.builtin._sandboxed import CodeToolPolicy, build_code_tool, code_sandbox
from mainspring.tools.policy import ApprovalPolicy, BreakerPolicy, RateLimit


def python_tool(
    sandbox: Sandbox | None = None,
    *,
    limits: Limits | None = None,
    workspace: Path | None = None,
    interpreter: Path | None = None,
    allow_weaker: bool = False,
    name: str = "python",
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
    """Build the `python` tool: the code is fed on stdin to `python3 -I -` in `sandbox`.

    Args:
        sandbox: where code runs (default: `detect_sandbox(minimum="namespaces")`).
        limits: limits per call (default: the sandbox's own, or `Limits()`).
        workspace: a directory shared by every call (e.g. one per agent run), kept afterwards;
            default: a fresh empty directory per call, deleted after it.
        interpreter: the Python to run (default: `find_interpreter()`).
        allow_weaker: with no `sandbox`, accept the process level on a host where the
            namespaced one cannot run, instead of raising `ConfigurationError`.
        name: the tool's name (two python tools with different jails need two names).
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
    jail = code_sandbox(sandbox, allow_weaker=allow_weaker, builder="python_tool")
    python = interpreter or find_interpreter()
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
    base = policy.run_limits(limits or getattr(jail, "limits", None) or Limits())
    mounts = tuple(p for p in _mounts_for(python) if p not in base.read_only_paths)
    run_limits = replace(base, read_only_paths=base.read_only_paths + mounts)

    async def python_(code: str) -> str:
        """Run Python code.

        Args:
            code: a complete Python 3 program; print() what you want to see.
        """
        # -I: no user site-packages, no PYTHON* variables, no current directory on sys.path.
        result = await jail.run(
            [str(python), "-I", "-"], limits=run_limits, stdin=code.encode(), workspace=workspace
        )
        log_run(name, result)
        return report(result, run_limits)

    generated = (
        "Run a Python 3 program (standard library only) and return its exit code, stdout "
        f"and stderr. {describe_jail(jail, run_limits, workspace)}"
    )
    return build_code_tool(python_, jail, run_limits, policy, generated)
