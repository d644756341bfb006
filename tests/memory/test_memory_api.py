"""`mainspring.memory.__all__` lists exactly its public names, each documented."""

import inspect

import mainspring.memory
from mainspring.memory.postgres import PostgresMemoryStore


def test_all_is_exactly_the_public_names_and_sorted() -> None:
    names = {
        name
        for name, value in vars(mainspring.memory).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    lazy = {"PostgresMemoryStore"}  # imported on first access: it needs the postgres extra
    assert set(mainspring.memory.__all__) == names | lazy
    assert mainspring.memory.__all__ == sorted(mainspring.memory.__all__)
    assert mainspring.memory.PostgresMemoryStore is PostgresMemoryStore


def test_every_public_class_and_function_has_a_docstring() -> None:
    for name in mainspring.memory.__all__:
        value = getattr(mainspring.memory, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and inspect.isfunction(member):
                    assert inspect.getdoc(member), f"{name}.{attribute}"
