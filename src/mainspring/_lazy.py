"""PEP 562 lazy attributes for packages whose optional parts need an extra.

A package lists which module holds each lazily exported name; the module is imported on first
access, so importing the package costs nothing and a missing extra fails only when its names are
used (with the `MissingExtraError` that module raises).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `homes[name]` and returns its `name`."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
