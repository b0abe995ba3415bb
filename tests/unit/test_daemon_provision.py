"""A campaign file may tighten the daemon's compliance rules, never loosen them."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from dialerd.config import ComplianceConfig, load_config
from dialerd.daemon.provision import ProvisionError, load_specs, tighten
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


def test_campaign_files_sharing_a_queue_stop_the_file_sync_naming_both(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            f'name = "{name}"\nqueue = "survey"\n[[tasks]]\nname = "call"\ntype = "call"\n'
        )
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "a.toml"\n[[campaigns]]\nfile = "b.toml"\n'
    )
    with pytest.raises(ProvisionError) as err:
        load_specs(load_config(cfg))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'b.toml'}: queue: campaign 'b': queue 'survey'")
    assert f"campaign 'a' is defined in {tmp_path / 'a.toml'}" in message
