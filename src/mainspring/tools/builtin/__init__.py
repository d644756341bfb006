"""Ready-made tools. `builtin_tools()` returns fresh registrations of the safe default set."""

from __future__ import annotations

from mainspring.tools.base import Tool
from mainspring.tools.builtin.calculator import calculator
from mainspring.tools.builtin.clock import clock


def builtin_tools() -> list[Tool]:
    """The built-in tools that need no sandbox and no network."""
    return [calculator, clock]


__all__ = ["builtin_tools", "calculator", "clock"]
