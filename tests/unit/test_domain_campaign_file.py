"""The rule of what a campaign file may change in its stored campaign (pure)."""

from __future__ import annotations

from typing import Any

from dialerd.domain.campaign_file import FileRecord, changed_keys, file_digest, plan_file
from dialerd.domain.campaign_spec import CampaignSpec

PERIODS = [{"days": ["mon"], "start": "09:00", "end": "17:00"}]


def spec(**extra: Any) -> CampaignSpec:
    data: dict[str, Any] = {
        "name": "demo",
        "schedule": {"status": "enabled", "periods": PERIODS},
        "tasks": [{"name": "call", "type": "call"}],
    }
    data.update(extra)
    return CampaignSpec.model_validate(data)


def record(s: CampaignSpec) -> FileRecord:
    return FileRecord("demo.toml", file_digest(s), s.model_dump(mode="json", by_alias=True))


def status(value: str) -> dict[str, Any]:
    return {"status": value, "periods": PERIODS}


def test_an_unchanged_file_is_not_applied_whatever_the_api_changed() -> None:
    file = spec()
    stored = spec(schedule=status("disabled"), ring_timeout="40s")
    assert plan_file(file, file_digest(file), stored, record(file)).apply is None


def test_a_changed_file_wins_except_for_a_status_it_did_not_change() -> None:
    old = spec()
    new = spec(description="new")
    stored = spec(schedule=status("disabled"), ring_timeout="40s")
    plan = plan_file(new, file_digest(new), stored, record(old))
    assert plan.apply is not None
    assert plan.apply.description == "new"
    assert plan.apply.ring_timeout.total_seconds() == 25
    assert plan.apply.schedule.status.value == "disabled"
    assert plan.status_kept
    assert plan.overwritten == ["ring_timeout"]


def test_a_status_the_file_changed_is_applied_and_named_if_the_api_had_changed_it() -> None:
    old = spec()
    new = spec(schedule=status("automatic"))
    stored = spec(schedule=status("disabled"))
    plan = plan_file(new, file_digest(new), stored, record(old))
    assert plan.apply is not None and plan.apply.schedule.status.value == "automatic"
    assert plan.overwritten == ["schedule.status"]


def test_without_a_record_the_file_is_applied_keeping_the_stored_status() -> None:
    new = spec()
    stored = spec(schedule=status("disabled"), amd=True)
    plan = plan_file(new, file_digest(new), stored, None)
    assert plan.apply is not None and plan.apply.schedule.status.value == "disabled"
    assert plan.overwritten == ["amd"]


def test_a_kept_status_the_new_file_cannot_carry_gives_way_to_the_files() -> None:
    old = spec()
    new = spec(schedule={"status": "enabled"})  # no periods: 'automatic' is not possible
    stored = spec(schedule=status("automatic"))
    plan = plan_file(new, file_digest(new), stored, record(old))
    assert plan.apply is not None and plan.apply.schedule.status.value == "enabled"
    assert "schedule.status" in plan.overwritten


def test_changed_keys_are_dotted_leaves() -> None:
    a = {"dial": {"mode": "power", "min_ring": "15s"}, "tasks": [1]}
    b = {"dial": {"mode": "predictive", "min_ring": "15s"}, "tasks": [1, 2]}
    assert changed_keys(a, b) == ["dial.mode", "tasks"]
