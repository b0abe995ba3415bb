"""A campaign may tighten the daemon's compliance rules, never loosen them.

:func:`dialerd.domain.compliance.tighten` is what the engine applies to every campaign it loads,
the API to every definition it stores and the daemon to every campaign file.
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from dialerd.config import ComplianceConfig
from dialerd.domain.campaign_spec import CampaignSpecError, validate_campaign_spec
from dialerd.domain.compliance import ComplianceFloor, tighten

BASE = {"name": "c", "tasks": [{"name": "call", "type": "call"}]}


def test_a_campaign_cannot_switch_the_calling_hours_guard_off() -> None:
    s = validate_campaign_spec(
        {**BASE, "calling_hours": {"enabled": False, "from": "06:00", "to": "23:00"}}
    )
    out, notes = tighten(s, ComplianceFloor())
    assert out.calling_hours.enabled
    assert (out.calling_hours.start, out.calling_hours.end) == (time(8), time(21))
    assert notes == ["calling hours set to 08:00-21:00 (daemon [compliance])"]


def test_narrower_or_stricter_campaign_settings_are_kept() -> None:
    s = validate_campaign_spec(
        {
            **BASE,
            "calling_hours": {"from": "09:00", "to": "18:00"},
            "dial": {"abandonment_target": "2%", "abandonment_windows": ["hour", "day", "30d"]},
            "connect_limit": "1s",
            "abandon_hold_off": "96h",
        }
    )
    out, notes = tighten(s, ComplianceFloor())
    assert out == s
    assert notes == []


def test_wider_hours_and_a_laxer_target_are_cut_to_the_daemon_rules() -> None:
    s = validate_campaign_spec(
        {
            **BASE,
            "calling_hours": {"from": "07:00", "to": "22:00"},
            "dial": {"abandonment_target": "5%"},
        }
    )
    out, notes = tighten(s, ComplianceFloor(abandonment_target=0.03))
    assert (out.calling_hours.start, out.calling_hours.end) == (time(8), time(21))
    assert out.dial.abandonment_target == 0.03
    assert notes == [
        "calling hours set to 08:00-21:00 (daemon [compliance])",
        "abandonment target lowered to 3.0% (daemon [compliance])",
    ]


def test_connect_limit_hold_off_and_windows_follow_the_daemon_floor() -> None:
    s = validate_campaign_spec(
        {
            **BASE,
            "dial": {"abandonment_windows": ["hour"]},
            "connect_limit": "10s",
            "abandon_hold_off": "1h",
        }
    )
    floor = ComplianceConfig(
        abandonment_windows=["day", "30d"], connect_limit=2.0, abandon_hold_off=48 * 3600.0
    ).to_domain()
    out, notes = tighten(s, floor)
    assert out.dial.abandonment_windows == ["hour", "day", "rolling_30d"]
    assert out.connect_limit == timedelta(seconds=2)
    assert out.abandon_hold_off == timedelta(hours=48)
    assert notes == [
        "abandonment windows day, rolling_30d added (daemon [compliance])",
        "connect limit lowered to 2s (daemon [compliance])",
        "abandon hold-off raised to 2d (daemon [compliance])",
    ]


def test_without_the_guard_in_the_daemon_a_campaign_keeps_its_own_hours() -> None:
    s = validate_campaign_spec({**BASE, "calling_hours": {"enabled": False}})
    out, notes = tighten(s, ComplianceFloor(calling_hours_guard=False))
    assert not out.calling_hours.enabled and notes == []


def test_daemon_and_campaigns_share_one_vocabulary_of_abandonment_windows() -> None:
    # the daemon's [compliance] accepts the campaigns' names, and "30d" as before
    c = ComplianceConfig(abandonment_windows=["hour", "Day", "rolling_30d", "30d"])
    assert c.abandonment_windows == ["hour", "day", "rolling_30d"]
    # a campaign accepts the daemon's spelling of the 30-day window
    s = validate_campaign_spec({**BASE, "dial": {"abandonment_windows": ["30d", "day"]}})
    assert s.dial.abandonment_windows == ["rolling_30d", "day"]
    with pytest.raises(CampaignSpecError, match="'week' is not an abandonment window"):
        validate_campaign_spec({**BASE, "dial": {"abandonment_windows": ["week"]}})


@pytest.mark.parametrize(
    ("own", "held", "notes"),
    [
        (None, 3, ["max calls per number per day set to 3 (daemon [compliance])"]),
        (5, 3, ["max calls per number per day lowered to 3 (daemon [compliance])"]),
        (3, 3, []),
        (2, 2, []),  # a campaign may be stricter
    ],
)
def test_the_daemon_caps_the_calls_per_number_a_campaign_may_make(
    own: int | None, held: int, notes: list[str]
) -> None:
    dial = {} if own is None else {"max_calls_per_day": own}
    s = validate_campaign_spec({**BASE, "dial": dial})
    out, got = tighten(s, ComplianceConfig(max_calls_per_day=3).to_domain())
    assert out.dial.max_calls_per_day == held
    assert got == notes


def test_without_a_daemon_cap_a_campaign_keeps_its_own_or_none() -> None:
    for dial in ({}, {"max_calls_per_day": 7}):
        s = validate_campaign_spec({**BASE, "dial": dial})
        out, notes = tighten(s, ComplianceFloor())
        assert out == s and notes == []
