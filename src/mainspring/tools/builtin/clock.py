"""The current date and time in any IANA time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mainspring.errors import InvalidArgumentsError
from mainspring.tools.decorator import tool


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        lowered = name.strip().lower().replace(" ", "_")
        close = sorted(z for z in available_timezones() if lowered in z.lower())[:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidArgumentsError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'{hint}"
        ) from None


@tool(timeout=5.0, idempotent=True)
def clock(timezone: str = "UTC") -> str:
    """Tell the current date and time in a time zone.

    Args:
        timezone: an IANA time zone name such as 'UTC', 'Europe/Paris' or 'America/New_York'.
    """
    now = dt.datetime.now(_zone(timezone))
    return f"{now.isoformat(timespec='seconds')} ({now.tzname()}, {now.strftime('%A')})"
