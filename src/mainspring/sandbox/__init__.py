"""Sandboxed execution: run untrusted code in a child process jail and say how it was isolated.

`detect_sandbox()` returns the strongest jail that works on this host; every `SandboxResult`
names the `Isolation` that was in force. Threat model and limits: docs/security.md.
"""

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from mainspring.sandbox._pool import WarmPool
    from mainspring.sandbox._uids import UidPool
    from mainspring.sandbox.base import (
        Isolation,
        IsolationLevel,
        KillReason,
        Limits,
        Protection,
        Sandbox,
        SandboxResult,
    )
    from mainspring.sandbox.bubblewrap import BubblewrapSandbox
    from mainspring.sandbox.detect import detect_sandbox
    from mainspring.sandbox.process import ProcessSandbox

# Imported when first named: `@tool` reads whether it runs inside a jail (`_inside`) without
# loading the jails themselves (seccomp, Landlock, cgroups: ~25 ms of imports).
_LAZY = {
    "WarmPool": "mainspring.sandbox._pool",
    "UidPool": "mainspring.sandbox._uids",
    **dict.fromkeys(
        (
            "Isolation",
            "IsolationLevel",
            "KillReason",
            "Limits",
            "Protection",
            "Sandbox",
            "SandboxResult",
        ),
        "mainspring.sandbox.base",
    ),
    "BubblewrapSandbox": "mainspring.sandbox.bubblewrap",
    "detect_sandbox": "mainspring.sandbox.detect",
    "ProcessSandbox": "mainspring.sandbox.process",
}
__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "BubblewrapSandbox",
    "Isolation",
    "IsolationLevel",
    "KillReason",
    "Limits",
    "ProcessSandbox",
    "Protection",
    "Sandbox",
    "SandboxResult",
    "UidPool",
    "WarmPool",
    "detect_sandbox",
]
