"""Calling-hours guard: contacts are judged by their own local time."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import given
from hypothesis import strategies as st

from dialerd.taskflow.calling_hours import inside, lease_guard


def test_guard_allows_zones_inside_hours_only() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Berlin 11:00, New York 05:00, Tokyo 19:00
    g = lease_guard(
        ["Europe/Berlin", "America/New_York", "Asia/Tokyo", None, "Not/AZone"],
        now,
        campaign_timezone="America/New_York",
    )
    assert g.allowed_timezones == {"Europe/Berlin", "Asia/Tokyo"}
    assert g.allow_unknown_timezone is False


def test_edges_are_start_inclusive_end_exclusive() -> None:
    assert inside(datetime(2026, 1, 5, 7, 0, tzinfo=UTC), "Europe/Berlin", time(8), time(21))
    assert not inside(datetime(2026, 1, 5, 20, 0, tzinfo=UTC), "Europe/Berlin", time(8), time(21))
    assert not inside(datetime(2026, 1, 5, 6, 59, tzinfo=UTC), "Europe/Berlin", time(8), time(21))


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_call_is_never_allowed_outside_local_hours(now: datetime) -> None:
    zone = "Australia/Sydney"
    g = lease_guard([zone], now, campaign_timezone=zone)
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(zone)).time()
    assert (zone in g.allowed_timezones) == (time(8) <= local < time(21))
