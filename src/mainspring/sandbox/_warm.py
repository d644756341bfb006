r"""What a pre-started jail waits in, and how a call's program is handed to it.

A warm jail runs `STUB` under a Python interpreter, fully jailed (the same mounts, filters,
limits, uid and workspace as a cold run). The stub blocks reading its control pipe; the host
writes one message and closes the pipe. The stub then either runs the Python code itself, as
`python -c CODE` or `python -` would have (same interpreter, same flags, a pristine `__main__`),
or execs the command (`exec` mode, for anything else with an absolute program path). An empty
message (the host closed the pipe: pool closed, or the host died) makes it exit without running
anything. It imports nothing: `sys` and `posix` are loaded by every interpreter at start-up.
A jail for `@tool(sandbox=...)` first runs a trusted preamble (`trust_preamble`): the part of
the child's bootstrap that reads nothing of the call, so the imports are paid before it.

Message: the fields (mode, code, stdin, then each argument) back to back, after one ASCII line
of their lengths as space-separated decimals, so no field needs escaping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mainspring.sandbox.base import Limits

STUB = """\
def _mainspring_warm():
    import posix, sys
    fd = int(sys.argv[1])
    main = sys.modules["__main__"]
    del main.__dict__["_mainspring_warm"]
    if len(sys.argv) > 2:
        preamble = sys.argv[2]
        sys.argv[:] = ["-c"]
        exec(compile(preamble, "<string>", "exec"), main.__dict__)
        del preamble
    chunks = []
    while True:
        chunk = posix.read(fd, 1048576)
        if not chunk:
            break
        chunks.append(chunk)
    posix.close(fd)
    data = b"".join(chunks)
    if not data:
        posix._exit(0)
    header, _, body = data.partition(b"\\n")
    fields, at = [], 0
    for size in map(int, header.split()):
        fields.append(body[at:at + size])
        at += size
    mode, code, stdin, *argv = fields
    if stdin:
        given = posix.memfd_create("stdin")
        view = memoryview(stdin)
        while view:
            view = view[posix.write(given, view):]
        posix.lseek(given, 0, 0)
        posix.dup2(given, 0)
        posix.close(given)
    if mode == b"exec":
        posix.execv(argv[0], argv)
    args = [arg.decode("utf-8", "surrogateescape") for arg in argv]
    if args[0] == "-c":
        code = code.decode("utf-8", "surrogateescape")
    sys.argv[:] = args
    name = "<stdin>" if args[0] == "-" else "<string>"
    if name == "<stdin>":
        main.__dict__.update(__file__=name, __cached__=None)
    try:
        exec(compile(code, name, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as error:
        error = error.with_traceback(error.__traceback__.tb_next)
        sys.excepthook(type(error), error, error.__traceback__)
        sys.exit(1)
_mainspring_warm()
"""

_PYTHON_NAME = re.compile(r"python3(\.\d+)?")
_PYTHON_FLAGS = frozenset({"-I", "-S", "-B", "-E", "-s", "-u", "-P", "-q", "-O", "-OO"})
_SYSTEM_DIRS = ("/usr/", "/bin/", "/sbin/")
"""Programs under these run in `exec` mode: they are at the same place in every jail."""
MAX_HANDED_STDIN = 1024 * 1024
"""Larger stdin runs cold: the stub would copy it into a memfd, which RLIMIT_FSIZE also caps."""


_TRUSTED_PREAMBLES: set[str] = set()


def trust_preamble(preamble: str) -> None:
    """Let warm jails run `preamble` before their call, for `python -c PREAMBLE+REST` calls.

    Only for mainspring's own code (`@tool(sandbox=...)`'s bootstrap, which imports mainspring
    and the libraries it needs): a jail runs its preamble when it starts, before any call and
    whether or not one comes, so it must be code that is run for every call anyway and that
    reads nothing of a call (no stdin, no arguments). It must end at a line's end, so that the
    rest keeps its line numbers.
    """
    if not preamble.endswith("\n"):
        raise ValueError("a warm preamble must end with a newline")
    _TRUSTED_PREAMBLES.add(preamble)


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything that decides what a warm jail is: a call uses one of exactly this shape."""

    stub: tuple[str, ...]
    """The program the jail waits in (without the control descriptor number)."""
    limits: Limits
    env: frozenset[tuple[str, str]]
    preamble: str = ""
    """Code the jail runs as soon as it has started (see `trust_preamble`)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How one call runs in a warm jail: the jail's shape, and the message that starts it."""

    shape: Shape
    message: bytes


def _frame(mode: bytes, code: bytes, stdin: bytes, argv: Sequence[str]) -> bytes:
    fields = [mode, code, stdin, *(os.fsencode(arg) for arg in argv)]
    header = " ".join(str(len(field)) for field in fields).encode()
    return header + b"\n" + b"".join(fields)


def _python_split(argv: Sequence[str]) -> tuple[list[str], int] | None:
    """(interpreter and flags, index of `-c` or `-`) when argv is `python FLAGS (-c CODE | -)`."""
    if not _PYTHON_NAME.fullmatch(os.path.basename(argv[0])):
        return None
    for index, arg in enumerate(argv[1:], start=1):
        if arg in ("-c", "-"):
            if arg == "-c" and index + 1 >= len(argv):
                return None
            return list(argv[:index]), index
        if arg not in _PYTHON_FLAGS:
            return None
    return None


def plan(
    argv: Sequence[str],
    stdin: bytes,
    limits: Limits,
    env: Mapping[str, str] | None,
    exec_stub: str | None,
) -> Plan | None:
    """How `argv` can run in a warm jail, or None when it must run cold.

    `exec_stub` is the interpreter that waits for commands other than Python code (None: such
    commands run cold). Only programs that exist under the system directories, which every
    jail shows at the same place, are exec'd, so a missing one fails as it does in a cold jail.
    """
    if len(stdin) > MAX_HANDED_STDIN or len(stdin) >= limits.max_file_bytes:
        return None
    frozen_env = frozenset((env or {}).items())
    split = _python_split(argv)
    if split is not None and os.path.isabs(argv[0]) and os.path.isfile(argv[0]):
        prefix, at = split
        preamble = ""
        if argv[at] == "-c":
            text, args = argv[at + 1], ["-c", *argv[at + 2 :]]
            if len(args) == 1:
                preamble = next((p for p in _TRUSTED_PREAMBLES if text.startswith(p)), "")
            # The rest keeps its line numbers: a traceback reads as it does cold.
            text = "\n" * preamble.count("\n") + text[len(preamble) :]
            code, handed_stdin = text.encode("utf-8", "surrogateescape"), stdin
        else:
            code, handed_stdin, args = stdin, b"", list(argv[at:])
        shape = Shape((*prefix, "-c", STUB), limits, frozen_env, preamble)
        return Plan(shape, _frame(b"python", code, handed_stdin, args))
    system = argv[0].startswith(_SYSTEM_DIRS)
    if exec_stub is None or not system or not os.path.isfile(argv[0]):
        return None
    shape = Shape((exec_stub, "-I", "-S", "-B", "-c", STUB), limits, frozen_env)
    return Plan(shape, _frame(b"exec", b"", stdin, argv))
