"""`python_tool()`: a tool that runs Python code in a sandbox, never in this process.

An in-process evaluator (exec with restricted globals, AST filters) is not a sandbox: Python's
introspection reaches every object from any other, so the code always runs in a child process
jail here, under an interpreter the sandbox uid may execute.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

from mainspring.errors import ConfigurationError
from mainspring.sandbox._runner import reachable_by_any_uid
from mainspring.sandbox.base import Limits, Sandbox
from mainspring.sandbox.detect import detect_sandbox
from mainspring.tools.base import Tool
from mainspring.tools.builtin._sandboxed import TIMEOUT_SLACK, describe_jail, report
from mainspring.tools.decorator import tool

_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/lib/", "/lib64/")


def _world_executable(path: Path) -> bool:
    """True when any uid may run `path`: it and each directory above it are o+x."""
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH) and reachable_by_any_uid(path)
    except OSError:
        return False


def find_interpreter() -> Path:
    """A Python 3 interpreter the sandbox's unprivileged uid can execute.

    This process's own interpreter when every uid may run it, else the system `python3`. A
    virtualenv is never used: the sandboxed code gets the standard library only.
    """
    own = Path(os.path.realpath(sys.base_prefix)) / "bin" / f"python{sys.version_info[0]}"
    for candidate in (own, *map(Path, _CANDIDATES)):
        real = Path(os.path.realpath(candidate))
        if real.is_file() and _world_executable(real):
            return real
    raise ConfigurationError(
        "no Python interpreter that an unprivileged uid may execute was found; install python3 "
        "(Debian: apt-get install python3) or pass python_tool(interpreter=...)"
    )


def _mounts_for(interpreter: Path) -> tuple[Path, ...]:
    """The installation prefix to show read-only in a namespaced jail, if not under /usr."""
    text = str(interpreter)
    if text.startswith(_SYSTEM_PREFIXES):
        return ()
    return (interpreter.parent.parent,)


def python_tool(
    sandbox: Sandbox | None = None,
    *,
    limits: Limits | None = None,
    workspace: Path | None = None,
    interpreter: Path | None = None,
) -> Tool:
    """Build the `python` tool: the code is fed on stdin to `python3 -I -` in `sandbox`.

    Args:
        sandbox: where code runs (default: `detect_sandbox()`, the strongest that works).
        limits: limits per call (default: the sandbox's own, or `Limits()`).
        workspace: a directory shared by every call (e.g. one per agent run), kept afterwards;
            default: a fresh empty directory per call, deleted after it.
        interpreter: the Python to run (default: `find_interpreter()`).
    """
    jail = sandbox or detect_sandbox()
    python = interpreter or find_interpreter()
    base = limits or getattr(jail, "limits", None) or Limits()
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
        return report(result, run_limits)

    return tool(
        name="python",
        description=(
            "Run a Python 3 program (standard library only) and return its exit code, stdout "
            f"and stderr. {describe_jail(jail, run_limits, workspace)}"
        ),
        timeout=run_limits.timeout + TIMEOUT_SLACK,
        sandbox=jail,
    )(python_)
