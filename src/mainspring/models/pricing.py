"""Prices per token from the `genai-prices` table, which ships its data and works offline.

The table is read once per (provider, model) and flattened to a `Pricing` of dollars per million
input and output tokens. Tiered or cached-input prices are not modelled: the flat base price is
what budgets need to stop a run before it overspends. Pass `pricing=Pricing(...)` to a model to
override the table (a negotiated rate, a self-hosted model, a model the table does not know).
"""

from __future__ import annotations

from functools import lru_cache

from mainspring.models.base import Pricing

_SAMPLE = 1_000  # below every long-context tier, so the base rate is what we read


@lru_cache(maxsize=256)
def lookup_pricing(provider: str, model: str) -> Pricing | None:
    """The table's price for `model` at `provider`, or `None` when it is not listed.

    Returns `None` too when `genai-prices` is not installed (the `pricing` extra).
    """
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    try:
        sample_in = calc_price(
            Usage(input_tokens=_SAMPLE, output_tokens=0), model, provider_id=provider
        )
        sample_out = calc_price(
            Usage(input_tokens=0, output_tokens=_SAMPLE), model, provider_id=provider
        )
    except LookupError:
        return None
    scale = 1_000_000 / _SAMPLE
    return Pricing(float(sample_in.total_price) * scale, float(sample_out.total_price) * scale)
