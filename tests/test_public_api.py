"""The top-level API is curated: `__all__` is exactly the public names, each documented."""

import inspect

import mainspring
import mainspring.testing
import mainspring.tools
import mainspring.tools.guards


def public_names(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }


def test_top_level_all_is_exactly_the_public_names() -> None:
    for name in mainspring.__all__:  # the top level imports its names on first use
        getattr(mainspring, name)
    assert set(mainspring.__all__) == public_names(mainspring) | {"__version__"}
    assert mainspring.__all__ == sorted(mainspring.__all__, key=str)


def test_subpackage_all_lists_match() -> None:
    for module in (mainspring.tools, mainspring.tools.guards, mainspring.testing):
        assert set(module.__all__) == public_names(module), module.__name__


def test_every_public_name_has_a_docstring() -> None:
    for module in (mainspring, mainspring.tools, mainspring.tools.guards, mainspring.testing):
        for name in module.__all__:
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
