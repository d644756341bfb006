"""`shell_tool()`: a tool that runs a POSIX shell command line in a sandbox."""

from __future__ import annotations

from pathlib import Path

from mainspring.sandbox.base import Limits, Sandbox
from mainspring.sandbox.detect import detect_sandbox
from mainspring.tools.base import Tool
from mainspring.tools.builtin._sandboxed import TIMEOUT_SLACK, describe_jail, report
from mainspring.tools.decorator import tool


def shell_tool(
    sandbox: Sandbox | None = None,
    *,
    limits: Limits | None = None,
    workspace: Path | None = None,
) -> Tool:
    """Build the `shell` tool: `/bin/sh -c COMMAND` in `sandbox`.

    Args:
        sandbox: where commands run (default: `detect_sandbox()`, the strongest that works).
        limits: limits per call (default: the sandbox's own, or `Limits()`).
        workspace: a directory shared by every call (e.g. one per agent run), kept afterwards;
            default: a fresh empty directory per call, deleted after it.
    """
    jail = sandbox or detect_sandbox()
    run_limits = limits or getattr(jail, "limits", None) or Limits()

    async def shell(command: str) -> str:
        """Run a shell command line.

        Args:
            command: the command line, e.g. 'ls -la && wc -l *.txt'.
        """
        result = await jail.run(["/bin/sh", "-c", command], limits=run_limits, workspace=workspace)
        return report(result, run_limits)

    return tool(
        name="shell",
        description=(
            "Run a POSIX shell (/bin/sh) command line and return its exit code, stdout and "
            f"stderr. {describe_jail(jail, run_limits, workspace)}"
        ),
        timeout=run_limits.timeout + TIMEOUT_SLACK,
        sandbox=jail,
    )(shell)
