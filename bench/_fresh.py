"""Fresh interpreters for start-up figures, with bytecode cached as an installed package has it.

`pip install` compiles every module to bytecode; a checkout run with PYTHONDONTWRITEBYTECODE=1
(as these machines set it) would compile mainspring's sources again in every process and time
the compiler instead of the import. So the variable is dropped for the benchmark's processes
and one warm-up import writes the cache first.
"""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(code: str) -> str:
    """Run `code` in a fresh interpreter; its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=ENV
    )
    return done.stdout


def warm_up() -> None:
    """Write the bytecode cache of everything the benchmarks import."""
    run("import mainspring.agent, mainspring.tools, mainspring.testing, mainspring.runs.sqlite")
