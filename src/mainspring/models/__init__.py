"""Models: one protocol, adapters per wire format, resolved from `"provider:model"` names."""

from mainspring.models.base import (
    FREE,
    Model,
    ModelDelta,
    ModelSettings,
    Pricing,
    ResponseDone,
    TextDelta,
    ToolCallDelta,
    ToolChoice,
    ToolDefinition,
    UsageDelta,
    count_prompt_tokens,
)
from mainspring.models.pricing import lookup_pricing
from mainspring.models.registry import DEFAULT_MODEL, providers, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "FREE",
    "Model",
    "ModelDelta",
    "ModelSettings",
    "Pricing",
    "ResponseDone",
    "TextDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
    "UsageDelta",
    "count_prompt_tokens",
    "lookup_pricing",
    "providers",
    "resolve_model",
]
