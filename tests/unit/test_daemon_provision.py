"""A campaign file may tighten the daemon's compliance rules, never loosen them."""

from __future__ import annotations

from datetime import time

from dialerd.config import ComplianceConfig
from dialerd.daemon.provision import tighten
from dialerd.domain.campaign_spec import validate_campaign_spec

BASE = {"name": "c", "tasks": [{"name": "call", "type": "call"}]}


def test_a_campaign_cannot_switch_the_calling_hours_guard_off() -> None:
    s = validate_campaign_spec({**BASE, "calling_hours": {"enabled": False}})
    out, notes = tighten(s, ComplianceConfig())
    assert out.calling_hours.enabled
    assert (out.calling_hours.start, out.calling_hours.end) == (time(8), time(21))
    assert notes


def test_narrower_campaign_hours_and_lower_targets_are_kept() -> None:
    s = validate_campaign_spec(
        {
            **BASE,
            "calling_hours": {"from": "09:00", "to": "18:00"},
            "dial": {"abandonment_target": "2%"},
        }
    )
    out, notes = tighten(s, ComplianceConfig())
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
    out, notes = tighten(s, ComplianceConfig(abandonment_target=0.03))
    assert (out.calling_hours.start, out.calling_hours.end) == (time(8), time(21))
    assert out.dial.abandonment_target == 0.03
    assert len(notes) == 2
