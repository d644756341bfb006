"""What a sandboxed tool tells the model: output and exit status, or which limit stopped it.

A run that ends by itself (whatever its exit status) is a normal result: the model reads the
traceback or the error text and corrects its code. A run the sandbox had to stop raises the
matching `ToolCallError`, so the result is marked failed, with the partial output and a hint on
what to change; the executor turns it into a `ToolResult` (kind "timeout" or
"sandbox_violation"). Every text starts with `[sandbox: LEVEL]`, the isolation that was in
force, and every run is logged under `mainspring.sandbox` with its level.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from mainspring.errors import SandboxViolationError, ToolTimeoutError
from mainspring.sandbox.base import Limits, Sandbox, SandboxResult

TIMEOUT_SLACK = 5.0
"""Seconds the tool's own timeout exceeds the jail's, so the jail (which says more) fires first."""

logger = logging.getLogger("mainspring.sandbox")


def tag(result: SandboxResult) -> str:
    """`[sandbox: namespaces]`: the level that was in force, first in every tool text."""
    return f"[sandbox: {result.isolation.level}]"


def log_run(tool: str, result: SandboxResult) -> None:
    """One log line per run, naming the tool, the outcome and the isolation level."""
    if not logger.isEnabledFor(logging.INFO):
        return
    outcome = f"stopped ({result.killed})" if result.killed else status(result)
    logger.info(
        "%s ran in the sandbox at level %s: %s after %.2fs (protections: %s)",
        tool,
        result.isolation.level,
        outcome,
        result.wall_seconds,
        ", ".join(sorted(result.isolation.protections)),
    )


def _section(name: str, text: str, truncated: bool, cap: int) -> str:
    if not text and not truncated:
        return ""
    cut = f"\n[{name} cut at {cap} bytes]" if truncated else ""
    return f"{name}:\n{text.rstrip(chr(10))}{cut}\n"


def output(result: SandboxResult, cap: int) -> str:
    """The stdout and stderr sections of a run, each marked when it was cut."""
    return _section("stdout", result.stdout, result.stdout_truncated, cap) + _section(
        "stderr", result.stderr, result.stderr_truncated, cap
    )


def status(result: SandboxResult) -> str:
    """`exit code N` or `killed by SIGNAME`."""
    if result.signal is not None:
        try:
            name = signal.Signals(result.signal).name
        except ValueError:
            name = f"signal {result.signal}"
        return f"killed by {name}"
    return f"exit code {result.exit_code}"


def stopped_reason(result: SandboxResult, limits: Limits) -> str:
    """Why the sandbox stopped a run, and what to change."""
    reason = result.killed
    if reason == "timeout":
        return (
            f"the run was stopped at the {limits.timeout:g}s wall-clock limit (every process "
            "it started was killed); make it finish sooner or do less per call"
        )
    if reason == "cpu_limit":
        return (
            f"the run used its {limits.cpu_seconds} CPU seconds and was killed; use a faster "
            "algorithm or smaller input"
        )
    if reason == "memory_limit":
        return (
            f"the run went over its {limits.memory_bytes // 2**20} MiB memory limit and was "
            "killed; use less memory (process data in pieces, smaller inputs)"
        )
    if reason == "output_limit":
        return (
            f"the run printed more than {limits.max_output_bytes} bytes and was stopped; print "
            "less (a summary or the first lines), or write large results to a file in the "
            "working directory"
        )
    return "the run was cancelled before it finished"


def raise_if_stopped(result: SandboxResult, limits: Limits, shown: str) -> None:
    """Raise the `ToolCallError` for a run the sandbox stopped; `shown` is its partial output."""
    if result.killed is None:
        return
    text = f"{tag(result)} {stopped_reason(result, limits)}."
    text = f"{text}\n{shown}" if shown else text
    if result.killed == "timeout":
        raise ToolTimeoutError(text)
    raise SandboxViolationError(text)


def report(result: SandboxResult, limits: Limits) -> str:
    """The tool's text for a run that ended by itself; raises for a run the sandbox stopped."""
    shown = output(result, limits.max_output_bytes)
    raise_if_stopped(result, limits, shown)
    return f"{tag(result)} {status(result)}\n{shown}".rstrip("\n")


def describe_jail(sandbox: Sandbox, limits: Limits, workspace: Path | None = None) -> str:
    """A sentence for the tool description: what the model's code can and cannot reach."""
    place = (
        "a working directory kept between calls"
        if workspace is not None
        else "a fresh empty working directory that is deleted afterwards"
    )
    isolation = sandbox.isolation
    if limits.network:
        network = "network access is allowed"
    elif isolation.network_blocked:
        network = "no network access"
    elif "landlock_tcp" in isolation.protections:
        network = "no TCP connections (other network access is not blocked)"
    else:
        network = "network access is not blocked"
    return (
        f"Runs in {place} ({isolation.level} sandbox); {network}; "
        f"limits: {limits.timeout:g}s wall clock, {limits.cpu_seconds}s CPU, "
        f"{limits.memory_bytes // 2**20} MiB memory, {limits.max_output_bytes} bytes of output."
    )
