"""`WrapperModel`: the base of cross-cutting model concerns (observation, deadlines, tracing).

A wrapper holds the model it wraps and passes everything through; a subclass overrides
`request` and `stream` to add its concern around the inner call. Wrappers nest, and each caller
(the loop, the planner, the plan's synthesis, a memory summariser, a replay) that holds the
agent's model gets every concern, because the concern is in the model, not in the caller.

Run-scoped concerns (the run's id and step, its time budget) come from `bind(scope)`: the loop
binds the agent's model to each run; an unbound wrapper works outside any run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from mainspring.hooks import RunScope
from mainspring.messages import Message, ModelResponse
from mainspring.models.base import Model, ModelDelta, ModelSettings, Pricing, ToolDefinition
from mainspring.tokens import Tokenizer


class WrapperModel:
    """A `Model` that delegates to `wrapped`; subclasses add one concern each."""

    def __init__(self, wrapped: Model, *, scope: RunScope | None = None) -> None:
        self.wrapped = wrapped
        self.scope = scope
        self.name: str = wrapped.name
        self.pricing: Pricing | None = wrapped.pricing

    @property
    def tokenizer(self) -> Tokenizer:
        """The wrapped model's tokenizer."""
        return self.wrapped.tokenizer

    def bind(self, scope: RunScope) -> WrapperModel:
        """This wrapper (and every wrapper inside it) for one run."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.wrapped = bind_model(self.wrapped, scope)
        clone.scope = scope
        return clone

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """The wrapped model's reply."""
        return await self.wrapped.request(messages, tools, settings)

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The wrapped model's stream."""
        return self.wrapped.stream(messages, tools, settings)

    def __getattr__(self, name: str) -> Any:
        # Provider-specific attributes (base_url, a local model's context size) stay reachable.
        if name.startswith("__") or name == "wrapped":
            raise AttributeError(name)
        return getattr(self.wrapped, name)


def bind_model(model: Model, scope: RunScope) -> Model:
    """`model` bound to a run: wrappers learn the run; plain models are returned as they are."""
    return model.bind(scope) if isinstance(model, WrapperModel) else model


def unwrap(model: Model) -> Model:
    """The innermost model under any wrappers."""
    while isinstance(model, WrapperModel):
        model = model.wrapped
    return model
