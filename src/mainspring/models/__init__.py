"""Models: one protocol, adapters per wire format, resolved from `"provider:model"` names.

Cross-cutting concerns wrap a model (`WrapperModel`): `ObservedModel` announces every call on
the hooks surface (audit, journal, events), `DeadlineModel` holds it to the run's time budget.
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
from mainspring.models.deadline import DeadlineModel
from mainspring.models.observed import ObservedModel
from mainspring.models.pricing import lookup_pricing
from mainspring.models.registry import DEFAULT_MODEL, providers, resolve_model
from mainspring.models.wrapper import WrapperModel, bind_model, unwrap

__all__ = [
    "DEFAULT_MODEL",
    "DeadlineModel",
    "FREE",
    "Model",
    "ModelDelta",
    "ModelSettings",
    "ObservedModel",
    "Pricing",
    "ResponseDone",
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
