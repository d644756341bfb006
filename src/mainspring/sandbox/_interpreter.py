"""Which Python a jailed run may execute, and what must be shown to it read-only.

The sandbox uid is unprivileged: it can run an interpreter only when the file and every
directory above it are o+x. A pyenv or uv interpreter under /root is not; the system's is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mainspring.errors import ConfigurationError
from mainspring.sandbox._paths import world_executable

_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/lib/", "/lib64/")


def find_interpreter(*, same_version: bool = False) -> Path:
    """A Python 3 interpreter the sandbox's unprivileged uid can execute.

    This process's own interpreter when every uid may run it, else the system `python3`. A
    virtualenv is never used. With `same_version`, only an interpreter of this process's
    major.minor version qualifies (`python3.X` is looked up too): code that imports this
    process's site-packages needs the same ABI for their compiled extensions.
    """
    major, minor = sys.version_info[:2]
    own = Path(os.path.realpath(sys.base_prefix)) / "bin" / f"python{major}"
    candidates = [own, *map(Path, _CANDIDATES)]
    if same_version:
        versioned = [f"/usr/bin/python{major}.{minor}", f"/usr/local/bin/python{major}.{minor}"]
        candidates = [own, *map(Path, versioned), *map(Path, _CANDIDATES)]
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if not (real.is_file() and world_executable(real)):
            continue
        if same_version and not _is_version(real, major, minor):
            continue
        return real
    wanted = f"Python {major}.{minor}" if same_version else "Python 3"
    raise ConfigurationError(
        f"no {wanted} interpreter that an unprivileged uid may execute was found (this "
        f"process runs {os.path.realpath(sys.executable)}, which the sandbox uid cannot reach); "
        f"install python{major}.{minor} system-wide (Debian: apt-get install python3) or make "
        "this interpreter and its directories world-executable (chmod o+x)"
    )


def _is_version(interpreter: Path, major: int, minor: int) -> bool:
    """Judged by name (python3.11) or by the stdlib directory beside it, without running it."""
    name = interpreter.name
    if name == f"python{major}.{minor}":
        return True
    prefix = interpreter.parent.parent
    return (prefix / "lib" / f"python{major}.{minor}" / "os.py").is_file()


def mounts_for(interpreter: Path) -> tuple[Path, ...]:
    """The installation prefix to show read-only in a namespaced jail, if not under /usr."""
    text = str(interpreter)
    if text.startswith(_SYSTEM_PREFIXES):
        return ()
    return (interpreter.parent.parent,)
