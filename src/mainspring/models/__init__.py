"""Models: one protocol, adapters per wire format, resolved from `"provider:model"` names.

An HTTP model is split in two: the adapter for its wire format (`openai.OpenAIModel`,
`anthropic.AnthropicModel`) and the `provider.Provider` that connects to the server (base URL,
credentials, HTTP client, retries). Those modules import httpx, so they load when a model of
theirs is resolved, not with this package.

Cross-cutting concerns wrap a model (`WrapperModel`): `ObservedModel` announces every call on
the hooks surface (audit, journal, events), `DeadlineModel` holds it to the run's time budget.
"""

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.models.base import (
    FREE,
    Model,
    ModelDelta,
    ModelSettings,
    Pricing,
    PromptCounter,
    ResponseDone,
    TextDelta,
    ToolCallDelta,
    ToolChoice,
    ToolDefinition,
    UsageDelta,
    count_prompt_tokens,
)
from mainspring.models.deadline import DeadlineModel
from mainspring.models.observed import ObservedModel
from mainspring.models.pricing import lookup_pricing
from mainspring.models.registry import DEFAULT_MODEL, providers, resolve_model
from mainspring.models.wrapper import WrapperModel, bind_model, unwrap

if TYPE_CHECKING:
    from mainspring.models.retry import RetryPolicy
    from mainspring.models.structured import OutputMode

# What only HTTP adapters use is imported when first named (or with an adapter).
_LAZY = {"RetryPolicy": "mainspring.models.retry", "OutputMode": "mainspring.models.structured"}
__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "DEFAULT_MODEL",
    "DeadlineModel",
    "FREE",
    "Model",
    "ModelDelta",
    "ModelSettings",
    "ObservedModel",
    "OutputMode",
    "Pricing",
    "PromptCounter",
    "ResponseDone",
    "RetryPolicy",
    "TextDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
    "UsageDelta",
    "WrapperModel",
    "bind_model",
    "count_prompt_tokens",
    "lookup_pricing",
    "providers",
    "resolve_model",
    "unwrap",
]
