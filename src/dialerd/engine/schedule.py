"""Campaign schedule (pure): is an ``automatic`` campaign switched on at a given instant?

Weekly periods act as switches in the campaign's time zone: each period's From switches the
campaign on, its To switches it off, and the latest switch before now decides. So with
overlapping periods the campaign is on from the earliest From and off at the earliest To (as
campaign managers of the old system expect); a From at the very instant of a To wins, so
back-to-back periods run without a gap. A date off has no switches and is off all day.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialerd.domain.enums import CampaignStatus
from dialerd.domain.model import TimePeriod


def _edges(
    periods: Sequence[TimePeriod], dates_off: Collection[date], tz: ZoneInfo, around: date
) -> list[tuple[datetime, int]]:
    edges: list[tuple[datetime, int]] = []
    for back in range(8, -2, -1):
        day = around - timedelta(days=back)
        if day in dates_off:
            continue
        for p in periods:
            if p.weekday != day.weekday():
                continue
            edges.append((datetime.combine(day, p.start, tz), 1))
            edges.append((datetime.combine(day, p.end, tz), 0))
    # at equal instants the From (1) sorts after the To (0) and so wins
    edges.sort(key=lambda e: (e[0].astimezone(ZoneInfo("UTC")), e[1]))
    return edges


def schedule_open(
    status: CampaignStatus,
    periods: Sequence[TimePeriod],
    dates_off: Collection[date],
    timezone: str,
    now: datetime,
) -> bool:
    """Whether the campaign may queue new calls at ``now`` (an aware datetime)."""
    if status is CampaignStatus.ENABLED:
        return True
    if status is CampaignStatus.DISABLED:
        return False
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    if local.date() in dates_off:
        return False
    state = False
    for at, on in _edges(periods, dates_off, tz, local.date()):
        if at > now:
            break
        state = bool(on)
    return state


def next_switch(
    status: CampaignStatus,
    periods: Sequence[TimePeriod],
    dates_off: Collection[date],
    timezone: str,
    now: datetime,
) -> datetime | None:
    """The next instant the automatic schedule switches (for status displays)."""
    if status is not CampaignStatus.AUTOMATIC:
        return None
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    current = schedule_open(status, periods, dates_off, timezone, now)
    for offset in (0, 7):
        for at, on in _edges(periods, dates_off, tz, local.date() + timedelta(days=offset)):
            if at > now and bool(on) != current:
                return at
    return None
