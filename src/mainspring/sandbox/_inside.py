"""Whether this process is itself the child of a sandboxed tool (see `mainspring.tools._jailed`).

The child imports the tool's module, so that module's top-level code runs inside the jail: a
`detect_sandbox()` there must not probe (the seccomp filter refuses the namespaces a probe
needs) and `@tool(sandbox=...)` must not jail the function again. The child's bootstrap calls
`enter()` before it imports anything of the user's; nothing else ever sets it.
"""

from __future__ import annotations

from mainspring.sandbox.base import IsolationLevel

_level: list[IsolationLevel] = []


def enter(level: IsolationLevel) -> None:
    """Mark this process as running inside a jail of `level` (for good: it never leaves)."""
    _level[:] = [level]


def level() -> IsolationLevel | None:
    """The level of the jail this process runs in, or None on the host."""
    return _level[0] if _level else None
