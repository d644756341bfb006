import pytest

from mainspring.errors import ConfigurationError
from mainspring.tools import BreakerPolicy, RateLimit, ToolPolicy


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("10/s", 10, 1.0),
        ("100/min", 100, 60.0),
        ("5/2s", 5, 2.0),
        ("1000/hour", 1000, 3600.0),
        ("3 / minutes", 3, 60.0),
        ("1/d", 1, 86400.0),
    ],
)
def test_rate_limit_shorthand(text: str, limit: int, period: float) -> None:
    rate = RateLimit.parse(text)
    assert (rate.limit, rate.period) == (limit, period)
    assert rate.interval == period / limit
    assert rate.capacity == limit


@pytest.mark.parametrize("text", ["10", "ten/s", "10/fortnight", "0/s", "/s"])
def test_bad_rate_limits_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ConfigurationError, match="'10/s'|limit >= 1"):
        RateLimit.parse(text)


def test_policy_values_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="failures must be >= 1"):
        BreakerPolicy(0)
    with pytest.raises(ConfigurationError, match="fraction"):
        BreakerPolicy(failure_rate=1.5)
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        ToolPolicy(timeout=0)
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        ToolPolicy(cache_ttl=-1)
    with pytest.raises(ConfigurationError, match="burst"):
        RateLimit(1, 1.0, burst=0)


def test_requires_approval_accepts_only_true_false_or_tainted() -> None:
    import pytest

    from mainspring.errors import ConfigurationError
    from mainspring.tools import tool

    def act() -> str:
        """Act."""
        return "done"

    assert tool(requires_approval="tainted")(act).policy.requires_approval == "tainted"
    with pytest.raises(ConfigurationError, match="True, False or 'tainted'"):
        tool(requires_approval="sometimes")(act)  # type: ignore[call-overload]
