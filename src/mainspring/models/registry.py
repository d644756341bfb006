"""Resolve `"provider:model"` names to `Model` objects.

Built-in providers are `openai`, `anthropic` and `local`. A third-party package adds a provider
by declaring an entry point in the `mainspring.models` group whose name is the provider prefix and
whose value is a factory `(model_name: str, **options) -> Model`:

```toml
[project.entry-points."mainspring.models"]
acme = "acme_mainspring:make_model"
```

Nothing is global: `resolve_model` reads entry points when it needs one, and `plugins` limits
which third-party providers may load (like llm's `LLM_LOAD_PLUGINS`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from mainspring.errors import ConfigurationError
from mainspring.models.base import Model

ModelFactory = Callable[..., Model]
"""`factory(model_name, **options) -> Model`."""

ENTRY_POINT_GROUP = "mainspring.models"

_BUILTIN: dict[str, str] = {
    "openai": "mainspring.models.openai:OpenAIModel",
    "anthropic": "mainspring.models.anthropic:AnthropicModel",
    "local": "mainspring.models.local:LocalModel",
}

DEFAULT_MODEL = "local:smollm2"
"""The embedded default: no key, no network."""


def _builtin_factory(provider: str) -> ModelFactory:
    module, _, attr = _BUILTIN[provider].partition(":")
    factory: ModelFactory = getattr(import_module(module), attr)
    return factory


def _plugin_factory(provider: str, plugins: Collection[str] | None) -> ModelFactory | None:
    if plugins is not None and provider not in plugins:
        return None
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == provider:
            factory: ModelFactory = entry.load()
            return factory
    return None


def providers(plugins: Collection[str] | None = None) -> list[str]:
    """Every provider prefix that `resolve_model` accepts, built-in and installed plugins."""
    names = set(_BUILTIN)
    names.update(
        e.name
        for e in entry_points(group=ENTRY_POINT_GROUP)
        if plugins is None or e.name in plugins
    )
    return sorted(names)


def resolve_model(
    spec: str | Model, *, plugins: Collection[str] | None = None, **options: Any
) -> Model:
    """The model named `spec` (`"openai:gpt-4o-mini"`, `"local:smollm2"`), built with `options`.

    A `Model` passes through unchanged, so APIs can take either. `options` go to the provider's
    factory (`api_key=`, `base_url=`, `pricing=`, ...). `plugins`, when given, is the set of
    third-party provider names allowed to load.
    """
    if not isinstance(spec, str):
        return spec
    provider, sep, name = spec.partition(":")
    if not sep or not provider or not name:
        raise ConfigurationError(
            f"model name {spec!r} must look like 'provider:model', e.g. 'openai:gpt-4o-mini' or "
            f"{DEFAULT_MODEL!r}"
        )
    factory = _plugin_factory(provider, plugins) if provider not in _BUILTIN else None
    if factory is None and provider in _BUILTIN:
        factory = _builtin_factory(provider)
    if factory is None:
        known = ", ".join(providers(plugins))
        raise ConfigurationError(
            f"unknown model provider {provider!r} in {spec!r}; known providers: {known}. "
            f"Third-party providers register an entry point in the {ENTRY_POINT_GROUP!r} group."
        )
    return factory(name, **options)
