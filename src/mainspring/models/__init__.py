"""Models: one protocol, adapters per wire format, resolved from `"provider:model"` names.

An HTTP model is split in two: the adapter for its wire format (`OpenAIModel`, `AnthropicModel`)
and the `Provider` that connects to the server (base URL, credentials, HTTP client, retries).
"""

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
from mainspring.models.provider import AnthropicProvider, OpenAIProvider, Provider
from mainspring.models.registry import DEFAULT_MODEL, providers, resolve_model
from mainspring.models.retry import RetryPolicy
from mainspring.models.structured import OutputMode

__all__ = [
    "AnthropicProvider",
    "DEFAULT_MODEL",
    "FREE",
    "Model",
    "ModelDelta",
    "ModelSettings",
    "OpenAIProvider",
    "OutputMode",
    "Pricing",
    "Provider",
    "ResponseDone",
    "RetryPolicy",
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
