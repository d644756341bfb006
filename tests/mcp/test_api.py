import inspect

import mainspring.mcp


def test_every_name_in_all_resolves_and_is_documented() -> None:
    assert mainspring.mcp.__all__ == sorted(mainspring.mcp.__all__)
    for name in mainspring.mcp.__all__:
        value = getattr(mainspring.mcp, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_unknown_names_raise_attribute_error() -> None:
    try:
        mainspring.mcp.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
