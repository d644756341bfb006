"""Module-level functions for the `@tool(sandbox=...)` tests: the child imports them by name.

Its top-level code runs again in every child, as a user's module would: the sandbox detection
and the code tool below must work there without probing or refusing.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from pydantic import BaseModel

from mainspring import RetryWithFeedback
from mainspring.errors import ToolDefinitionError
from mainspring.sandbox import detect_sandbox
from mainspring.tools import CallContext, tool
from mainspring.tools.builtin import python_tool

DETECTED = detect_sandbox()
CODE = python_tool(allow_weaker=True)


def report_pid(n: int) -> dict[str, int]:
    """Say which process ran the call."""
    return {"pid": os.getpid(), "double": n * 2}


def read_file(path: str) -> str:
    """Read a text file."""
    with open(path) as handle:
        return handle.read()


def write_file(path: str, text: str) -> str:
    """Write a text file and say where."""
    with open(path, "w") as handle:
        handle.write(text)
    return os.path.abspath(path)


def environment() -> dict[str, str]:
    """The environment the call sees."""
    return dict(os.environ)


def sleep_with_child(seconds: float) -> str:
    """Start a background process, then sleep."""
    subprocess.Popen(["sleep", "60"])
    time.sleep(seconds)
    return "woke"


def fail(message: str) -> str:
    """Raise."""
    raise ValueError(message)


def ask_again(x: int) -> str:
    """Hand the model a correction."""
    raise RetryWithFeedback(f"x={x} is too small; send a larger x")


def opaque(x: int):  # type: ignore[no-untyped-def]  # undeclared on purpose: checked per call
    """Return something without a JSON form."""
    return object()


async def add_async(a: int, b: int) -> int:
    """Add, asynchronously."""
    return a + b


class Point(BaseModel):
    x: int
    y: int


def scale(point: Point, factor: float, ctx: CallContext) -> dict[str, Any]:
    """Scale a point; say who asked."""
    return {"x": point.x * factor, "y": point.y * factor, "principal": ctx.principal.id}


UNREACHABLE: str | None = None
"""Why this checkout cannot be shown to the sandbox uid (a clone under a 0700 home), if so."""
try:

    @tool(sandbox=DETECTED)
    def decorated(x: int) -> int:
        """Square, decorated in place at module level."""
        return x * x

except ToolDefinitionError as exc:
    UNREACHABLE = str(exc)


class Opaque:
    """A class pydantic knows nothing about."""


def returns_opaque(x: int) -> Opaque:
    """Declares a result with no JSON form."""
    return Opaque()


class Holder:
    def method(self, x: int) -> int:
        """A method."""
        return x


def generate(n: int):  # type: ignore[no-untyped-def]
    """A generator."""
    yield from range(n)
