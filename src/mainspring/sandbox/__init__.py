"""Sandboxed execution: run untrusted code in a child process jail and say how it was isolated.

`detect_sandbox()` returns the strongest jail that works on this host; every `SandboxResult`
names the `Isolation` that was in force. Threat model and limits: docs/security.md.
"""

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
