"""Exit codes of the `mainspring` command: one per way a run can end, for scripts.

The table is documented in docs/cli.md; a test checks that every `StopReason` has a code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
"""The run failed (model error), or an operation failed (store unreachable, file unreadable)."""
EXIT_USAGE = 2
"""A usage or configuration mistake: a bad option, setting, file or URL. Nothing ran."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, the shell convention); the run is marked interrupted."""

STOP_EXIT_CODES: dict[str, int] = {
    "final_answer": EXIT_OK,
    "error": EXIT_ERROR,
    "max_iterations": 3,
    "max_tokens": 4,
    "max_cost": 5,
    "max_seconds": 6,
    "max_tool_calls": 7,
    "needs_attention": 8,
    "cancelled": 9,
    "no_progress": 10,
}
"""The exit code of a run that ended for each stop reason."""


def exit_code_for(stop_reason: str) -> int:
    """The exit code for a run's stop reason (an unknown reason counts as an error)."""
    return STOP_EXIT_CODES.get(stop_reason, EXIT_ERROR)
