"""Abandonment windows start where a supervisor expects them to (campaign local time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.taskflow.abandonment import window_start


def test_day_and_hour_follow_campaign_time_zone() -> None:
    now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 on 3 March in Berlin
    assert window_start("day", now, "Europe/Berlin") == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert window_start("day", now) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert window_start("hour", now, "Asia/Kolkata") == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert window_start("rolling_30d", now) == now - timedelta(days=30)
    with pytest.raises(ValueError, match="unknown abandonment window"):
        window_start("week", now)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(["hour", "day"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_window_contains_now_and_is_at_most_a_day(naive: datetime, window: str, zone: str) -> None:
    now = naive.replace(tzinfo=UTC)
    start = window_start(window, now, zone)
    assert start <= now
    assert now - start <= timedelta(hours=25 if window == "day" else 1)
