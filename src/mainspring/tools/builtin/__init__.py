"""Ready-made tools. `builtin_tools()` returns fresh registrations of the safe default set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring.tools.builtin.calculator import calculator
from mainspring.tools.builtin.clock import clock
from mainspring.tools.builtin.python import python_tool
from mainspring.tools.builtin.shell import shell_tool

if TYPE_CHECKING:
    from mainspring.tools.base import Tool


def builtin_tools() -> list[Tool]:
    """The built-in tools that need no sandbox and no network."""
    return [calculator, clock]


__all__ = ["builtin_tools", "calculator", "clock", "python_tool", "shell_tool"]
