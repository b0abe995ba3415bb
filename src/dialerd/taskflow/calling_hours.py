"""The calling-hours guard (pure): which contact time zones may be called right now.

Local time is judged per IANA zone, so the store can filter contacts with a plain ``IN`` list
instead of doing time-zone arithmetic in SQL (which SQLite cannot do).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialerd.domain.changes import LeaseGuard
from dialerd.domain.phone import zones_of


def inside(now: datetime, zone: str, start: time, end: time) -> bool:
    """Is ``now`` within [start, end) local time in ``zone``? Unknown zones are never inside.

    A zone set (a number that may be in any of several zones, ``dialerd.domain.phone``) is
    inside only while every one of its zones is: the person may be in the one where it is not.
    """
    zones = zones_of(zone)
    return bool(zones) and all(_inside_one(now, z, start, end) for z in zones)


def _inside_one(now: datetime, zone: str, start: time, end: time) -> bool:
    try:
        local = now.astimezone(ZoneInfo(zone)).time()
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return start <= local < end


def lease_guard(
    zones: Iterable[str | None],
    now: datetime,
    *,
    campaign_timezone: str,
    start: time = time(8, 0),
    end: time = time(21, 0),
) -> LeaseGuard:
    """The guard for ``Store.lease``: contacts without a zone are judged in the campaign's."""
    allowed = frozenset(z for z in zones if z is not None and inside(now, z, start, end))
    return LeaseGuard(allowed, inside(now, campaign_timezone, start, end))
