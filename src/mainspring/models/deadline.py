"""`DeadlineModel`: no model call outlives the run's time budget, whoever makes it.

Bound to a run, each call (and each delta of a stream) is cut off at the seconds the run has left
and raises `TimeoutError`, which the loop reports as `max_seconds`. Unbound, it adds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from mainspring.messages import Message, ModelResponse
from mainspring.models.base import ModelDelta, ModelSettings, ToolDefinition
from mainspring.models.wrapper import WrapperModel

_EXPIRED = "the run's max_seconds budget ran out during a model call"


class DeadlineModel(WrapperModel):
    """Bounds every call by the bound run's remaining seconds."""

    def _remaining(self) -> float | None:
        if self.scope is None:
            return None
        remaining = self.scope.remaining_seconds()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("the run's max_seconds budget is spent: no model call was sent")
        return remaining

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """The reply, or `TimeoutError` at the run's deadline."""
        remaining = self._remaining()
        if remaining is None:
            return await self.wrapped.request(messages, tools, settings)
        try:
            async with asyncio.timeout(remaining):
                return await self.wrapped.request(messages, tools, settings)
        except TimeoutError:
            raise TimeoutError(_EXPIRED) from None

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The stream, each delta awaited no longer than the run has left."""
        deltas = self.wrapped.stream(messages, tools, settings)
        while True:
            try:
                async with asyncio.timeout(self._remaining()):
                    delta = await anext(deltas, None)
            except TimeoutError:
                raise TimeoutError(_EXPIRED) from None
            if delta is None:
                return
            yield delta
