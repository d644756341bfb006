"""What a sandboxed tool tells the model: output and exit status, or which limit stopped it.

A run that ends by itself (whatever its exit status) is a normal result: the model reads the
traceback or the error text and corrects its code. A run the sandbox had to stop raises the
matching `ToolCallError`, so the result is marked failed, with the partial output and a hint on
what to change; the executor turns it into a `ToolResult` (kind "timeout" or
"sandbox_violation").
"""

from __future__ import annotations

import signal
from pathlib import Path

from mainspring.errors import SandboxViolationError, ToolTimeoutError
from mainspring.sandbox.base import Limits, Sandbox, SandboxResult

TIMEOUT_SLACK = 5.0
"""Seconds the tool's own timeout exceeds the jail's, so the jail (which says more) fires first."""


def _section(name: str, text: str, truncated: bool, cap: int) -> str:
    if not text and not truncated:
        return ""
    cut = f"\n[{name} cut at {cap} bytes]" if truncated else ""
    return f"{name}:\n{text.rstrip(chr(10))}{cut}\n"


def _output(result: SandboxResult, cap: int) -> str:
    return _section("stdout", result.stdout, result.stdout_truncated, cap) + _section(
        "stderr", result.stderr, result.stderr_truncated, cap
    )


def _status(result: SandboxResult) -> str:
    if result.signal is not None:
        try:
            name = signal.Signals(result.signal).name
        except ValueError:
            name = f"signal {result.signal}"
        return f"killed by {name}"
    return f"exit code {result.exit_code}"


def _stopped_message(result: SandboxResult, limits: Limits) -> str:
    reason = result.killed
    if reason == "timeout":
        why = (
            f"the run was stopped at the {limits.timeout:g}s wall-clock limit (every process "
            "it started was killed); make it finish sooner or do less per call"
        )
    elif reason == "cpu_limit":
        why = (
            f"the run used its {limits.cpu_seconds} CPU seconds and was killed; use a faster "
            "algorithm or smaller input"
        )
    elif reason == "memory_limit":
        why = (
            f"the run went over its {limits.memory_bytes // 2**20} MiB memory limit and was "
            "killed; use less memory (process data in pieces, smaller inputs)"
        )
    elif reason == "output_limit":
        why = (
            f"the run printed more than {limits.max_output_bytes} bytes and was stopped; print "
            "less (a summary or the first lines), or write large results to a file in the "
            "working directory"
        )
    else:
        why = "the run was cancelled before it finished"
    output = _output(result, limits.max_output_bytes)
    return f"{why}.\n{output}" if output else f"{why}."


def report(result: SandboxResult, limits: Limits) -> str:
    """The tool's text for a run that ended by itself; raises for a run the sandbox stopped."""
    if result.killed == "timeout":
        raise ToolTimeoutError(_stopped_message(result, limits))
    if result.killed is not None:
        raise SandboxViolationError(_stopped_message(result, limits))
    text = f"{_status(result)}\n{_output(result, limits.max_output_bytes)}"
    return text.rstrip("\n")


def describe_jail(sandbox: Sandbox, limits: Limits, workspace: Path | None = None) -> str:
    """A sentence for the tool description: what the model's code can and cannot reach."""
    place = (
        "a working directory kept between calls"
        if workspace is not None
        else "a fresh empty working directory that is deleted afterwards"
    )
    protections = sandbox.isolation.protections
    if limits.network:
        network = "network access is allowed"
    elif "network_namespace" in protections:
        network = "no network access"
    elif "landlock_tcp" in protections:
        network = "no TCP connections (other network access is not blocked)"
    else:
        network = "network access is not blocked"
    return (
        f"Runs in {place}; {network}; "
        f"limits: {limits.timeout:g}s wall clock, {limits.cpu_seconds}s CPU, "
        f"{limits.memory_bytes // 2**20} MiB memory, {limits.max_output_bytes} bytes of output."
    )
