from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from mainspring.errors import ConfigurationError
from mainspring.models import registry
from mainspring.models.registry import providers, resolve_model
from mainspring.testing import ScriptedModel


def test_a_model_object_passes_through() -> None:
    model = ScriptedModel([])
    assert resolve_model(model) is model


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", ":gpt"])
def test_malformed_names_say_the_expected_shape(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="provider:model"):
        resolve_model(spec)


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="known providers: anthropic, local, openai"):
        resolve_model("nope:model")


def make_scripted(name: str, **options: Any) -> ScriptedModel:
    return ScriptedModel(options.get("replies", []), name=name)


def test_entry_point_plugins_resolve_and_can_be_restricted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real EntryPoint object, loaded through importlib as an installed plugin's would be.
    ep = EntryPoint("acme", f"{__name__}:make_scripted", registry.ENTRY_POINT_GROUP)

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return [ep] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    model = resolve_model("acme:rocket", replies=["hi"])
    assert isinstance(model, ScriptedModel)
    assert model.name == "rocket"
    assert "acme" in providers()
    with pytest.raises(ConfigurationError, match="unknown model provider 'acme'"):
        resolve_model("acme:rocket", plugins=set())
