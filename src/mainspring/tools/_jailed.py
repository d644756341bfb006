"""`@tool(sandbox=jail)`: the function runs in a child process in that jail, never in this one.

The child is a fresh interpreter of this process's Python version, started in the jail with the
tool's timeout and the jail's limits. It imports the tool's module by name (so the module's
top-level code runs there too), finds the function by its qualified name, validates the
arguments against the same signature-derived model, calls it, and sends back its result as
JSON. Nothing crosses as pickle: the host never unpickles what a jailed process wrote.

What the child can see: the system directories, this Python's site-packages, mainspring's own
package and the tool's top-level package (or single module file), all read-only, plus the
jail's `Limits.read_only_paths`; nothing of the host's environment. So a function must be
importable by module and qualified name: a lambda, a closure, a nested function, a method or
a function of `__main__` is refused when the tool is defined, saying why and what to do.
"""

from __future__ import annotations

import inspect
import json
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import pydantic
from pydantic_core import PydanticSerializationError, to_json

from mainspring.errors import (
    ConfigurationError,
    InvalidArgumentsError,
    RetryWithFeedback,
    SandboxViolationError,
    ToolCallError,
    ToolDefinitionError,
    ToolTimeoutError,
)
from mainspring.sandbox._interpreter import find_interpreter, mounts_for
from mainspring.sandbox._paths import reachable_by_any_uid
from mainspring.sandbox._report import TIMEOUT_SLACK, log_run, stopped_reason, tag
from mainspring.sandbox._warm import trust_preamble
from mainspring.sandbox.base import Limits, Sandbox, SandboxResult
from mainspring.tools.base import CallContext, Tool

# Runs as `python -I -S -B -c PREAMBLE+CALL`: the reply goes to the original stdout, everything
# the function prints goes to stderr. The tool's package and mainspring are found by a finder
# that maps their names to their directories, so the directories above them need not be
# listable (Landlock at the process level grants nothing above them). The preamble reads nothing
# of the call, so a warm jail runs it (imports mainspring and pydantic) before the call comes.
PREAMBLE = """\
import os, sys
reply = os.dup(1)
os.dup2(2, 1)
import importlib.machinery, importlib.util, json, site
layout = json.loads(LAYOUT)

class Packages:
    @staticmethod
    def find_spec(name, path=None, target=None):
        where = layout["packages"].get(name)
        if where is None:
            return None
        if where.endswith(".py"):
            return importlib.util.spec_from_file_location(name, where)
        init = os.path.join(where, "__init__.py")
        if os.path.exists(init):
            return importlib.util.spec_from_file_location(
                name, init, submodule_search_locations=[where]
            )
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [where]
        return spec

sys.meta_path.insert(0, Packages)
sys.path[:0] = layout["path"]
for directory in layout["site"]:
    site.addsitedir(directory)
from mainspring.tools._jail_child import main
"""
CALL = "main(json.loads(sys.stdin.buffer.read()), reply)\n"


def bootstrap(layout: Layout) -> str:
    """The child's program for `layout`; its preamble is trusted to run in a warm jail."""
    shown = {"packages": layout.packages, "path": list(layout.path), "site": list(layout.site)}
    preamble = PREAMBLE.replace("LAYOUT", repr(json.dumps(shown)), 1)
    trust_preamble(preamble)
    return preamble + CALL


_MAINSPRING = Path(__file__).resolve().parents[1]
_SYSTEM = ("/usr/", "/bin/", "/lib/", "/lib64/")
_SITE_NAMES = ("site-packages", "dist-packages")


def _refuse(name: str, why: str) -> ToolDefinitionError:
    return ToolDefinitionError(f"tool {name!r} cannot run in its sandbox: {why}")


def check_function(func: Callable[..., Any], name: str) -> None:
    """Refuse what a child process cannot re-import by module and qualified name."""
    if not inspect.isfunction(func):
        raise _refuse(
            name,
            f"it is a {type(func).__name__}, not a function; the child imports the tool by "
            "module and name, so define it with `def` at module level (methods, "
            "functools.partial objects and callable instances cannot be re-imported)",
        )
    if func.__name__ == "<lambda>":
        raise _refuse(
            name,
            "a lambda has no name the child could import it by; define it with `def` at "
            "module level",
        )
    if "<locals>" in func.__qualname__ or func.__closure__:
        raise _refuse(
            name,
            f"{func.__qualname__} is defined inside another function (a closure or nested "
            "function), and the child can neither import it nor rebuild what it captured; "
            "move it to module level and pass what it needs as arguments",
        )
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise _refuse(name, "a generator's values cannot be sent back; return a list instead")
    module = sys.modules.get(func.__module__)
    if func.__module__ == "__main__" or getattr(module, "__file__", None) is None:
        raise _refuse(
            name,
            f"its module {func.__module__!r} cannot be imported by name (a script run as "
            "__main__, a notebook or code run with exec); put the tool in a .py module on "
            "sys.path and import it from there",
        )


def check_result_type(func: Callable[..., Any], name: str) -> None:
    """Refuse a declared return type that has no JSON form (arbitrary classes)."""
    try:
        returned = get_type_hints(func).get("return")
    except NameError:
        return  # e.g. a TYPE_CHECKING-only name: the child checks the value it returns
    if returned is None or returned is type(None):
        return
    try:
        pydantic.TypeAdapter(returned).json_schema(mode="serialization")
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise _refuse(
            name,
            f"it returns {returned!r}, which cannot be sent back from the child as JSON "
            f"({type(exc).__name__}); return str, numbers, lists, dicts, dataclasses or "
            "pydantic models",
        ) from None


@dataclass(frozen=True, slots=True)
class Layout:
    """How the child is started: which Python, what it imports from where, what it is shown."""

    interpreter: Path
    packages: dict[str, str]
    """Top-level package (or module) name -> its directory (or file): mainspring, the tool's."""
    path: tuple[str, ...]
    """Source roots put first on the child's sys.path (directories the jail's limits list)."""
    site: tuple[str, ...]
    """site-packages directories, added with `site.addsitedir` (so .pth files apply)."""
    mounts: tuple[Path, ...]
    """Host paths the child must read, added to the jail's read-only paths."""


def _top_level(module_name: str) -> Path:
    """The top-level package directory of a module, or the file of a top-level module."""
    file = Path(str(sys.modules[module_name].__file__)).resolve()
    parts = module_name.split(".")
    if file.name == "__init__.py":
        directory, depth = file.parent, len(parts) - 1
    elif len(parts) == 1:
        return file
    else:
        directory, depth = file.parent, len(parts) - 2
    for _ in range(depth):
        directory = directory.parent
    return directory


def _under(path: Path, roots: tuple[str, ...]) -> bool:
    return any(str(path).startswith(root.rstrip("/") + "/") for root in roots)


def layout_for(func: Callable[..., Any], name: str, limits: Limits) -> Layout:
    """What the child of `func` needs, from where this process found the same code."""
    try:
        interpreter = find_interpreter(same_version=True)
    except ConfigurationError as exc:
        raise _refuse(name, str(exc)) from None
    site = tuple(
        str(Path(p).resolve()) for p in sys.path if Path(p).name in _SITE_NAMES and Path(p).is_dir()
    )
    packages: dict[str, str] = {}
    mounts: list[Path] = list(mounts_for(interpreter))
    for top in (_MAINSPRING, _top_level(func.__module__)):
        packages[top.stem if top.suffix == ".py" else top.name] = str(top)
        mounts.append(top)
    path: list[str] = []
    for shown in limits.read_only_paths:
        # A listed module or package becomes importable; a listed directory is a source root.
        if shown.suffix == ".py" or (shown / "__init__.py").is_file():
            packages.setdefault(shown.stem if shown.suffix == ".py" else shown.name, str(shown))
        elif shown.is_dir():
            path.append(str(shown))
    mounts += [Path(p) for p in site]
    needed = tuple(dict.fromkeys(m for m in mounts if not _under(m, _SYSTEM)))
    return Layout(interpreter, packages, tuple(path), site, needed)


def check_reachable(layout: Layout, name: str, sandbox: Sandbox) -> None:
    """Under a uid of its own the child can read only what any uid may read (o+r, o+x)."""
    if getattr(sandbox, "uids", None) is None:
        return
    for path in layout.mounts:
        try:
            readable = bool(path.stat().st_mode & stat.S_IROTH)
        except OSError:
            readable = False
        if not (readable and reachable_by_any_uid(path)):
            raise _refuse(
                name,
                f"the jail runs it under an unprivileged uid, which cannot read {str(path)!r} "
                "(it is not world-readable, or a directory above it is not o+x); install the "
                "code somewhere world-readable or chmod o+rx the path and its parents",
            )


def _context(ctx: object) -> dict[str, Any] | None:
    if not isinstance(ctx, CallContext):
        return None
    principal = {"id": ctx.principal.id, "scopes": sorted(ctx.principal.scopes)}
    return {"principal": principal, "run_id": ctx.run_id, "idempotency_key": ctx.idempotency_key}


class JailedFunction:
    """What `Tool.function` is for `@tool(sandbox=...)`: one child process in the jail per call."""

    def __init__(
        self,
        target: Callable[..., Any],
        sandbox: Sandbox,
        *,
        name: str,
        limits: Limits,
        layout: Layout,
        context_param: str | None,
    ) -> None:
        self.target = target
        """The function itself, as the child runs it."""
        self.sandbox = sandbox
        self.name = name
        self.limits = limits
        self.layout = layout
        self.context_param = context_param
        self.program = bootstrap(layout)
        """What the child runs (`python -c`), for this function's layout."""

    def _payload(self, kwargs: dict[str, Any]) -> bytes:
        arguments = {k: v for k, v in kwargs.items() if k != self.context_param}
        try:
            encoded = to_json(arguments).decode()
        except PydanticSerializationError as exc:
            raise InvalidArgumentsError(
                f"the arguments of {self.name!r} cannot be sent to its sandbox as JSON ({exc}); "
                "pass values of the declared parameter types"
            ) from None
        payload = {
            "packages": self.layout.packages,
            "path": list(self.layout.path),
            "site": list(self.layout.site),
            "module": self.target.__module__,
            "qualname": self.target.__qualname__,
            "tool": self.name,
            "arguments": encoded,
            "context_param": self.context_param,
            "context": _context(kwargs.get(self.context_param or "")),
            "level": self.sandbox.isolation.level,
        }
        return json.dumps(payload).encode()

    async def __call__(self, **kwargs: Any) -> str:
        """Run the function in a fresh child in the jail; its result, tagged with the level."""
        argv = [str(self.layout.interpreter), "-I", "-S", "-B", "-c", self.program]
        result = await self.sandbox.run(argv, limits=self.limits, stdin=self._payload(kwargs))
        log_run(self.name, result)
        return f"{tag(result)} {self._interpret(result)}"

    def _interpret(self, result: SandboxResult) -> str:
        """The function's text, or the `ToolCallError` saying what went wrong and where."""
        if result.killed is not None:
            self._stopped(result)
        try:
            reply = json.loads(result.stdout)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ToolCallError(
                f"{tag(result)} {self.name!r} ended in its sandbox without a result "
                f"({_status(result)}): {_tail(result.stderr)}"
            )
        if reply.get("ok") is True and isinstance(reply.get("text"), str):
            return str(reply["text"])
        raise self._failure(result, reply)

    def _stopped(self, result: SandboxResult) -> None:
        if result.killed == "timeout":
            raise ToolTimeoutError(
                f"{tag(result)} {self.name!r} did not finish within {self.limits.timeout:g}s "
                "and was killed with every process it started; try smaller input or another "
                "approach"
            )
        if result.killed == "output_limit":
            why = (
                f"{self.name!r} wrote more than {self.limits.max_output_bytes} bytes (its "
                "result, or what it printed) and was stopped; return less, or raise the "
                "jail's Limits(max_output_bytes=...)"
            )
        else:
            why = stopped_reason(result, self.limits)
        raise SandboxViolationError(f"{tag(result)} {why}.")

    def _failure(self, result: SandboxResult, reply: dict[str, Any]) -> Exception:
        stage, error = reply.get("stage"), str(reply.get("error", "unknown error"))
        if stage == "feedback":
            return RetryWithFeedback(f"{tag(result)} {error}")
        if stage == "import":
            shown = ", ".join(str(m) for m in self.layout.mounts) or "the system directories"
            return ToolCallError(
                f"{tag(result)} the sandbox could not import {self.name!r} "
                f"({self.target.__module__}.{self.target.__qualname__}): {error}. The jail "
                f"shows only {shown}; list other code it imports in the jail's "
                "Limits(read_only_paths=...)"
            )
        if stage == "result":
            return ToolCallError(
                f"{tag(result)} the result of {self.name!r} cannot be sent back from the "
                f"sandbox as JSON: {error}; return str, numbers, lists, dicts, dataclasses or "
                "pydantic models"
            )
        if stage == "arguments":
            return InvalidArgumentsError(f"{tag(result)} {error}")
        return ToolCallError(f"{tag(result)} {self.name!r} failed: {error}")


def _status(result: SandboxResult) -> str:
    if result.signal is not None:
        return f"killed by signal {result.signal}"
    return f"exit code {result.exit_code}"


def _tail(text: str, lines: int = 6) -> str:
    kept = text.strip().splitlines()[-lines:]
    return " | ".join(kept) if kept else "no output"


def jail_tool(
    built: Tool, func: Callable[..., Any], sandbox: object, timeout: float | None
) -> Tool:
    """`built` with its function run in `sandbox`; raises `ToolDefinitionError` if it cannot.

    Call `check_function` before building the tool, so its message comes first.
    """
    if not isinstance(sandbox, Sandbox):
        raise _refuse(
            built.name,
            f"sandbox= takes a Sandbox (detect_sandbox(), BubblewrapSandbox(), "
            f"ProcessSandbox()), got {type(sandbox).__name__}",
        )
    check_result_type(func, built.name)
    base = getattr(sandbox, "limits", None)
    base = base if isinstance(base, Limits) else Limits()
    layout = layout_for(func, built.name, base)
    check_reachable(layout, built.name, sandbox)
    shown = base.read_only_paths + tuple(m for m in layout.mounts if m not in base.read_only_paths)
    limits = replace(base, timeout=timeout or base.timeout, read_only_paths=shown)
    jailed = JailedFunction(
        func,
        sandbox,
        name=built.name,
        limits=limits,
        layout=layout,
        context_param=built.context_param,
    )
    # The jail enforces the timeout (and kills the process tree); the guard waits a little
    # longer so that the jail's fuller report is the one the model reads.
    policy = replace(built.policy, timeout=limits.timeout + TIMEOUT_SLACK)
    return replace(built, function=jailed, is_async=True, policy=policy)
