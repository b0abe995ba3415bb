"""Abandonment windows (pure): where "current hour", "current day" and "rolling 30 days" start.

The store keeps live answers and abandoned calls in small time buckets
(``Store.abandonment(campaign_id, since)``); the engine asks for each window the campaign names
and holds the rate under the target in all of them. Hour and day follow the campaign's own time
zone (a "day" is the local calendar day, also across a daylight-saving change).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

WINDOWS = ("hour", "day", "rolling_30d")


def window_start(window: str, now: datetime, timezone: str = "UTC") -> datetime:
    """The UTC start of ``window`` containing ``now`` (aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(timezone))
    if window == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif window == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
    elif window == "rolling_30d":
        return (now - timedelta(days=30)).astimezone(UTC)
    else:
        raise ValueError(f"unknown abandonment window {window!r} (one of {', '.join(WINDOWS)})")
    return start.astimezone(UTC)
