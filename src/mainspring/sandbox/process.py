"""`ProcessSandbox`: the fallback jail that needs nothing from the host but a POSIX kernel.

It holds the limits (rlimits, wall-clock timeout, output caps), the scrubbed environment and the
process-group kill, and when started as root it runs each call under a uid of its own, which
makes file permissions, signal permissions and RLIMIT_NPROC bind. It does NOT hide the
filesystem (anything world-readable is readable) and does NOT cut the network: its results say
so, and `detect_sandbox(minimum="namespaces")` refuses to fall back to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mainspring.sandbox._jail import Launch
from mainspring.sandbox._runner import JailedSandbox, Workspace
from mainspring.sandbox.base import Isolation, Limits, Protection


class ProcessSandbox(JailedSandbox):
    """A child process in its own session, with rlimits and an allow-list environment."""

    def _isolation(self, limits: Limits, *, uid: int | None) -> Isolation:
        protections: set[Protection] = {
            "rlimits",
            "scrubbed_env",
            "process_group",
            "no_new_privileges",
        }
        if self.uids is not None:
            protections.add("own_uid")
        return Isolation("process", frozenset(protections), uid=uid)

    def _visible_paths(self, workspace: Workspace) -> tuple[str, str]:
        return str(workspace.path), str(workspace.tmp)

    def _command(
        self, argv: Sequence[str], workspace: Workspace, limits: Limits, env: dict[str, str]
    ) -> Launch:
        return Launch(list(argv), env, workspace.path, limits, seccomp=self._seccomp)
