"""Campaign schedule and abandonment windows of the engine (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from dialerd.domain.enums import CampaignStatus
from dialerd.domain.model import TimePeriod
from dialerd.engine.schedule import next_switch, schedule_open
from dialerd.engine.settings import EngineSettings
from dialerd.engine.windows import window_specs, window_start

BERLIN = "Europe/Berlin"
AUTO = CampaignStatus.AUTOMATIC
WEEKDAYS_9_TO_17 = [TimePeriod(d, time(9, 0), time(17, 0)) for d in range(5)]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(BERLIN))  # type: ignore[misc]


def test_enabled_and_disabled_ignore_the_periods() -> None:
    night = berlin(2026, 1, 5, 3, 0)
    assert schedule_open(CampaignStatus.ENABLED, WEEKDAYS_9_TO_17, (), BERLIN, night)
    assert not schedule_open(
        CampaignStatus.DISABLED, WEEKDAYS_9_TO_17, (), BERLIN, berlin(2026, 1, 5, 10, 0)
    )


def test_automatic_follows_the_periods_in_the_campaign_time_zone() -> None:
    monday = (2026, 1, 5)
    assert not schedule_open(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(*monday, 8, 59, 59))
    assert schedule_open(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(*monday, 9, 0))
    assert schedule_open(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(*monday, 16, 59, 59))
    assert not schedule_open(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(*monday, 17, 0))
    # 08:30 UTC is 09:30 in Berlin
    assert schedule_open(
        AUTO, WEEKDAYS_9_TO_17, (), BERLIN, datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    )
    # Saturday
    assert not schedule_open(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(2026, 1, 10, 10, 0))


def test_dates_off_stop_the_whole_day() -> None:
    off = {date(2026, 1, 6)}
    assert not schedule_open(AUTO, WEEKDAYS_9_TO_17, off, BERLIN, berlin(2026, 1, 6, 10, 0))
    assert schedule_open(AUTO, WEEKDAYS_9_TO_17, off, BERLIN, berlin(2026, 1, 7, 10, 0))


def test_overlapping_periods_run_from_the_earliest_from_to_the_earliest_to() -> None:
    periods = [TimePeriod(0, time(9, 0), time(12, 0)), TimePeriod(0, time(11, 0), time(14, 0))]
    assert schedule_open(AUTO, periods, (), BERLIN, berlin(2026, 1, 5, 9, 30))
    assert schedule_open(AUTO, periods, (), BERLIN, berlin(2026, 1, 5, 11, 30))
    assert not schedule_open(AUTO, periods, (), BERLIN, berlin(2026, 1, 5, 12, 30))


def test_back_to_back_periods_leave_no_gap() -> None:
    periods = [TimePeriod(0, time(9, 0), time(12, 0)), TimePeriod(0, time(12, 0), time(14, 0))]
    assert schedule_open(AUTO, periods, (), BERLIN, berlin(2026, 1, 5, 12, 0))


def test_next_switch_names_the_coming_edge() -> None:
    assert next_switch(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(2026, 1, 5, 10, 0)) == berlin(
        2026, 1, 5, 17, 0
    )
    assert next_switch(AUTO, WEEKDAYS_9_TO_17, (), BERLIN, berlin(2026, 1, 9, 18, 0)) == berlin(
        2026, 1, 12, 9, 0
    )
    assert (
        next_switch(CampaignStatus.ENABLED, WEEKDAYS_9_TO_17, (), BERLIN, berlin(2026, 1, 5))
        is None
    )


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(0, 6),
    st.integers(0, 22),
    st.integers(1, 10),
)
def test_a_single_period_is_open_exactly_inside_it(
    now: datetime, weekday: int, start_h: int, hours: int
) -> None:
    end_h = min(23, start_h + hours)
    if end_h <= start_h:
        return
    period = TimePeriod(weekday, time(start_h), time(end_h))
    local = now.astimezone(ZoneInfo(BERLIN))
    expected = local.weekday() == weekday and time(start_h) <= local.time() < time(end_h)
    assert schedule_open(AUTO, [period], (), BERLIN, now) == expected


def test_day_window_aligns_to_local_midnight_and_starts_there() -> None:
    now = datetime(2026, 1, 5, 22, 30, tzinfo=UTC)  # 23:30 Berlin
    (day,) = window_specs(["day"], BERLIN, now, mono=1000.0)
    # in the builder's scale, mono + offset is the local time of day
    assert (1000.0 + day.offset_s) % 86400 == 23.5 * 3600
    assert window_start("day", BERLIN, now) == berlin(2026, 1, 5, 0, 0)
    assert window_start("hour", BERLIN, now) == berlin(2026, 1, 5, 23, 0)
    assert window_start("rolling_30d", BERLIN, now) == now - timedelta(days=30)
    rolling = window_specs(["rolling_30d"], BERLIN, now, mono=0.0)[0]
    assert rolling.rolling and rolling.length_s == 30 * 86400


def test_dial_string_template() -> None:
    s = EngineSettings(dial_template="PJSIP/{digits}@trunk", holder="h")
    assert s.dial_string("+4930123") == "PJSIP/4930123@trunk"
    assert EngineSettings(holder="h").dial_string("555010001") == "Local/555010001@sim-callees"
