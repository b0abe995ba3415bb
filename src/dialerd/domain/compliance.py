"""The daemon's compliance floor and how it tightens a campaign (pure).

The daemon's ``[compliance]`` table is a floor: a campaign may be stricter, never laxer. Whatever
way a campaign enters the store (a campaign file, the REST API, ``dialerd campaign create``),
:func:`tighten` gives the definition the dialer actually uses:

* calling hours: the guard stays on and the campaign's hours are cut to the daemon's;
* abandonment target: at most the daemon's;
* abandonment windows: the campaign's plus any of the daemon's it leaves out;
* connect limit: at most the daemon's (a call not bridged by then counts as abandoned);
* abandon hold-off: at least the daemon's;
* calls per number per 24 hours (``dial.max_calls_per_day``): at most the daemon's, set to it
  when the campaign has none (the cap counts the calls to a number from every campaign).

It returns the tightened definition and one note per change, for the log and the API response.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from dialerd.domain.campaign_spec import (
    CampaignSpec,
    default_abandonment_windows,
    format_duration,
)


@dataclass(frozen=True, slots=True)
class ComplianceFloor:
    """The daemon's ``[compliance]`` rules (the defaults are the documented ones)."""

    calling_hours_guard: bool = True
    calling_hours_start: time = time(8, 0)
    calling_hours_end: time = time(21, 0)
    abandonment_target: float = 0.03
    abandonment_windows: tuple[str, ...] = tuple(default_abandonment_windows())
    connect_limit: timedelta = timedelta(seconds=2)
    abandon_hold_off: timedelta = timedelta(hours=72)
    max_calls_per_day: int | None = None


def tighten(spec: CampaignSpec, floor: ComplianceFloor) -> tuple[CampaignSpec, list[str]]:
    """The campaign with the daemon's compliance floor applied, and what was changed."""
    notes: list[str] = []
    update: dict[str, object] = {}
    hours = spec.calling_hours
    if floor.calling_hours_guard:
        start, end = floor.calling_hours_start, floor.calling_hours_end
        if hours.enabled:
            start, end = max(hours.start, start), min(hours.end, end)
            if start >= end:  # disjoint windows: the daemon's rule wins outright
                start, end = floor.calling_hours_start, floor.calling_hours_end
        if not hours.enabled or (start, end) != (hours.start, hours.end):
            notes.append(f"calling hours set to {start:%H:%M}-{end:%H:%M} (daemon [compliance])")
            update["calling_hours"] = hours.model_copy(
                update={"enabled": True, "start": start, "end": end}
            )
    dial = spec.dial
    dial_update: dict[str, object] = {}
    if dial.abandonment_target > floor.abandonment_target:
        notes.append(
            f"abandonment target lowered to {floor.abandonment_target:.1%} (daemon [compliance])"
        )
        dial_update["abandonment_target"] = floor.abandonment_target
    missing = [w for w in floor.abandonment_windows if w not in dial.abandonment_windows]
    if missing:
        notes.append(f"abandonment windows {', '.join(missing)} added (daemon [compliance])")
        dial_update["abandonment_windows"] = [*dial.abandonment_windows, *missing]
    cap = floor.max_calls_per_day
    if cap is not None and (dial.max_calls_per_day is None or dial.max_calls_per_day > cap):
        how = "set" if dial.max_calls_per_day is None else "lowered"
        notes.append(f"max calls per number per day {how} to {cap} (daemon [compliance])")
        dial_update["max_calls_per_day"] = cap
    if dial_update:
        update["dial"] = dial.model_copy(update=dial_update)
    if spec.connect_limit > floor.connect_limit:
        notes.append(
            f"connect limit lowered to {format_duration(floor.connect_limit)} (daemon [compliance])"
        )
        update["connect_limit"] = floor.connect_limit
    if spec.abandon_hold_off < floor.abandon_hold_off:
        notes.append(
            f"abandon hold-off raised to {format_duration(floor.abandon_hold_off)} "
            "(daemon [compliance])"
        )
        update["abandon_hold_off"] = floor.abandon_hold_off
    if not update:
        return spec, notes
    return spec.model_copy(update=update), notes


def floor_changes(stored: CampaignSpec, applied: CampaignSpec) -> dict[str, dict[str, Any]]:
    """What the floor changed, key by key: ``{"dial.abandonment_target": {"stored": 0.05,
    "applied": 0.03}}`` (dotted keys and values as the campaign's JSON definition writes them).

    A campaign stored laxer than the floor (``dialerd campaign create --db``, a floor made
    stricter later) is dialed by the floor; its stored values alone would read as the rules
    in force.
    """
    out: dict[str, dict[str, Any]] = {}
    _diff(
        stored.model_dump(mode="json", by_alias=True),
        applied.model_dump(mode="json", by_alias=True),
        "",
        out,
    )
    return out


def _diff(stored: Any, applied: Any, prefix: str, out: dict[str, dict[str, Any]]) -> None:
    if isinstance(stored, dict) and isinstance(applied, dict):
        for key in sorted({*stored, *applied}):
            _diff(stored.get(key), applied.get(key), f"{prefix}{key}.", out)
    elif stored != applied:
        out[prefix.rstrip(".")] = {"stored": stored, "applied": applied}
