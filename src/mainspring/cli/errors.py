"""The CLI's one error handler: a known failure becomes one or two lines, never a traceback.

Every command runs inside `ErrorHandlingGroup.invoke`. A `MainspringError`, an `OSError` or a
settings error is printed as `error: <what, naming the file, key or URL>` plus, where the
message does not already say it, `hint: <the fix>`. `--debug` (or `MAINSPRING_DEBUG=1`) lets
the traceback through instead.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from mainspring.cli.exit_codes import EXIT_ERROR, EXIT_USAGE
from mainspring.errors import (
    AuditLogError,
    BackendError,
    ConfigurationError,
    MainspringError,
    MemoryStoreError,
    ModelError,
    RunStoreError,
)

DEBUG_KEY = "mainspring.debug"
"""`typer.Context.meta` key set by the root `--debug` option (meta is shared by every context)."""

_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


@dataclass(frozen=True, slots=True)
class Problem:
    """What to print for an error, and the exit code."""

    message: str
    hint: str | None = None
    exit_code: int = EXIT_ERROR


def _one_line(text: str) -> str:
    """Collapse a multi-line driver message and mask URL passwords."""
    flat = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return _PASSWORD.sub(r"\1***@", flat)


def _os_problem(exc: OSError) -> Problem:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    message = f"{where}: {reason}" if where else reason
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Problem(
            f"cannot write {where or 'a file'}: {reason}",
            "set MAINSPRING_DATA_DIR (or data_dir in mainspring.toml) to a directory you can "
            "write, or fix the permissions",
        )
    if exc.errno == errno.ENOENT:
        return Problem(f"no such file: {where}" if where else reason, "check the path")
    return Problem(message)


_HINTS: tuple[tuple[type[MainspringError], str], ...] = (
    (RunStoreError, "check the run store (--store, or runs_url / MAINSPRING_RUNS_URL)"),
    (MemoryStoreError, "check the memory store (--url, or memory_url / MAINSPRING_MEMORY_URL)"),
    (AuditLogError, "check the audit log (audit_log / MAINSPRING_AUDIT_LOG)"),
    (BackendError, "start Redis, or fix or unset redis_url / MAINSPRING_REDIS_URL"),
    (ModelError, "check the model (--model, --base-url) and that its server is reachable"),
)


def explain(exc: BaseException) -> Problem | None:
    """The printable form of a failure the operator can fix, or None for a real bug."""
    if isinstance(exc, ConfigurationError):
        return Problem(_one_line(str(exc)), exit_code=EXIT_USAGE)
    if isinstance(exc, MainspringError):
        hint = next((h for kind, h in _HINTS if isinstance(exc, kind)), None)
        return Problem(_one_line(str(exc)), hint)
    if isinstance(exc, OSError):
        return _os_problem(exc)
    return None


def debug_enabled(ctx: Any = None) -> bool:
    """Whether tracebacks were asked for (`--debug` or `MAINSPRING_DEBUG=1`)."""
    if ctx is not None and ctx.meta.get(DEBUG_KEY):
        return True
    return os.environ.get("MAINSPRING_DEBUG", "").lower() in ("1", "true", "yes")


def report(problem: Problem) -> None:
    """Print a problem to stderr: one line, and a hint line if there is one."""
    typer.echo(f"error: {problem.message}", err=True)
    if problem.hint:
        typer.echo(f"hint: {problem.hint}", err=True)


class ErrorHandlingGroup(TyperGroup):
    """The root command group: known failures of any subcommand become short messages."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; explain what the operator can fix, re-raise the rest.

        Typer's own exits and usage errors are neither `MainspringError` nor `OSError`, so they
        pass through to Typer untouched.
        """
        try:
            return super().invoke(ctx)
        except Exception as exc:
            problem = explain(exc)
            if problem is None or debug_enabled(ctx):
                raise
            report(problem)
            raise typer.Exit(problem.exit_code) from None
