"""`ModelSummariser`: condense evicted memory through any `Model`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mainspring.messages import Message

if TYPE_CHECKING:
    from mainspring.models.base import Model, ModelSettings

INSTRUCTIONS = (
    "You maintain an assistant's long-term memory. Summarise the conversation excerpts below "
    "into a few short factual sentences. Keep names, dates, numbers, preferences, decisions "
    "and open tasks; drop greetings and filler. Reply with the summary only."
)


class ModelSummariser:
    """A `Summariser` that asks a model, one request per `consolidate()`."""

    def __init__(
        self,
        model: Model,
        *,
        instructions: str = INSTRUCTIONS,
        settings: ModelSettings | None = None,
    ) -> None:
        """Summarise with `model`; `instructions` is the system prompt."""
        self.model = model
        self.instructions = instructions
        self.settings = settings

    async def summarise(self, texts: Sequence[str]) -> str:
        """One summary of `texts`, as the model wrote it (whitespace trimmed)."""
        excerpts = "\n".join(f"- {text}" for text in texts)
        response = await self.model.request(
            [Message("system", self.instructions), Message("user", excerpts)],
            settings=self.settings,
        )
        return response.message.content.strip()
