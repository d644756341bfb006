"""The API is curated: every package's `__all__` is exactly its public names, each documented."""

import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

import mainspring

LAZY_EXTRAS = {"PostgresRunStore", "PostgresAuditLog", "PostgresMemoryStore"}
"""Optional integrations exported lazily (PEP 562): listed, importable only with their extra."""


def packages() -> list[ModuleType]:
    found = [mainspring]
    for info in pkgutil.walk_packages(mainspring.__path__, "mainspring."):
        if info.ispkg:
            found.append(importlib.import_module(info.name))
    return found


def public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"
        and getattr(typing, name, None) is not value  # TYPE_CHECKING, Any for lazy exports
    }


def test_top_level_all_is_exactly_the_public_names() -> None:
    for name in mainspring.__all__:  # the top level imports its names on first use
        getattr(mainspring, name)
    assert set(mainspring.__all__) == public_names(mainspring) | {"__version__"}
    assert mainspring.__all__ == sorted(mainspring.__all__, key=str)


def test_every_subpackage_all_lists_match() -> None:
    checked = []
    for module in packages()[1:]:
        exported = set(getattr(module, "__all__", ()))
        assert exported, f"{module.__name__} has no __all__"
        # Names a package imports on first use (its `_LAZY` table, PEP 562) are not in vars yet.
        on_demand = set(getattr(module, "_LAZY", ()))
        lazy = {n for n in exported - set(vars(module)) if n in LAZY_EXTRAS or n in on_demand}
        assert exported - lazy == public_names(module), module.__name__
        checked.append(module.__name__)
    assert {"mainspring.agent", "mainspring.tools.guards", "mainspring.runs"} <= set(checked)


def test_every_public_name_has_a_docstring() -> None:
    for module in packages():
        for name in module.__all__:
            if name in LAZY_EXTRAS:
                continue
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_import_is_lazy_and_names_still_resolve() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mainspring; "
        "assert 'mainspring.agent' not in sys.modules, sorted(sys.modules); "
        "from mainspring import Agent, tool; "
        "assert mainspring.Agent is Agent and 'Agent' in dir(mainspring)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    try:
        mainspring.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("unknown names must raise AttributeError")
