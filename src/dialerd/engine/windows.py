"""Abandonment windows of a campaign: builder window specs and their start in wall time.

The SnapshotBuilder counts on the engine's monotonic scale; calendar windows (hour, day) are
aligned to the campaign's local clock through the builder's offset. The store keeps the counts
per campaign in time buckets, so the engine restores each window from the store at start and
re-reads it now and then: the rate is the campaign's, over every daemon, across restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dialerd.pacing import WindowSpec

_LENGTH = {"hour": 3600.0, "day": 86400.0, "rolling_30d": 30 * 86400.0}


def window_specs(
    names: Sequence[str], timezone: str, now: datetime, mono: float
) -> tuple[WindowSpec, ...]:
    """Builder windows; ``now``/``mono`` are the same instant on the wall and monotonic scale."""
    local = now.astimezone(ZoneInfo(timezone))
    into_day = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    out: list[WindowSpec] = []
    for name in names:
        length = _LENGTH.get(name)
        if length is None:
            raise ValueError(f"unknown abandonment window {name!r}")
        if name == "rolling_30d":
            out.append(WindowSpec(name, length, rolling=True))
            continue
        into = into_day % length
        out.append(WindowSpec(name, length, offset_s=(into - mono) % length))
    return tuple(out)


def window_start(name: str, timezone: str, now: datetime) -> datetime:
    """Where the window that contains ``now`` starts (for the store's persisted counts)."""
    if name == "rolling_30d":
        return now - timedelta(days=30)
    local = now.astimezone(ZoneInfo(timezone))
    if name == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if name == "day":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown abandonment window {name!r}")
