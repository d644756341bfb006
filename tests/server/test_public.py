"""`mainspring.server` lists exactly its public names, each documented."""

from __future__ import annotations

import inspect

import mainspring.server


def test_server_all_is_exactly_the_public_names_and_documented() -> None:
    module = mainspring.server
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(module.__all__) == public
    for name in module.__all__:
        assert inspect.getdoc(getattr(module, name)), name
