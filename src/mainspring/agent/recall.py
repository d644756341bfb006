"""Reading memory for a run's prompt, announced on the hooks surface.

Telemetry turns the announcement into a `retrieval` span; other subscribers may log or meter it.
Only sizes and times are announced, never the remembered text (it may hold anything a user said).
"""

from __future__ import annotations

import time
from typing import Protocol

from mainspring.hooks import RetrievalRecord, RunScope
from mainspring.tokens import Tokenizer


class ContextSource(Protocol):
    """Anything with `AgentMemory.get_context`'s shape."""

    async def get_context(
        self, max_tokens: int, query: str | None = None, *, tokenizer: Tokenizer | None = None
    ) -> object:
        """Relevant memory within `max_tokens`; the result has `.text` (and `.tokens`)."""
        ...


async def recall(
    memory: ContextSource, task: str, max_tokens: int, tokenizer: Tokenizer, scope: RunScope
) -> str:
    """The memory relevant to `task`, within `max_tokens`; announced once it is read."""
    started_ns, started = time.time_ns(), time.perf_counter()
    context = await memory.get_context(max_tokens, query=task, tokenizer=tokenizer)
    tokens = getattr(context, "tokens", None)
    await scope.observers.memory_retrieved(
        RetrievalRecord(
            run_id=scope.run_id,
            step=scope.step,
            started_ns=started_ns,
            latency_ms=(time.perf_counter() - started) * 1000,
            max_tokens=max_tokens,
            tokens=tokens if isinstance(tokens, int) else None,
        )
    )
    return str(getattr(context, "text", ""))
