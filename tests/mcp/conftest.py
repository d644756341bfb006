"""Fixtures for the MCP tests: real servers, found next to this interpreter (installed by
`make install` through the dev extra). In CI a missing one fails; locally it skips."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.conftest import service_unavailable

BIN = Path(sys.executable).parent
MISBEHAVING = Path(__file__).parent / "misbehaving_server.py"


def server_command(name: str) -> str:
    """The path of a reference server's console script."""
    found = BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        service_unavailable(name, FileNotFoundError(f"{name} is not installed (make install)"))
        raise AssertionError("unreachable")
    return on_path
