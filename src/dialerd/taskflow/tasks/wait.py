"""The wait task: park contacts for a fixed time or until a date in their fields, then go on.

Parking is a due time on the open contact, so a restart keeps the wait and nothing polls the
contact meanwhile; when the time has come the next run marks it ``success`` and the taskflow
rules take it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialerd.domain.clock import iso_utc
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Contact
from dialerd.domain.phone import zones_of
from dialerd.domain.selection import split_field
from dialerd.taskflow.decide import Outcome
from dialerd.taskflow.tasks.base import Record, TaskItem, TaskOutcome, success
from dialerd.taskflow.tasks.settings import WaitSettings


def parse_when(value: object, zone: str | None) -> datetime:
    """A date or date-time from a contact field; naive values are in the contact's zone."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime.combine(value, time(0))
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            try:
                at = datetime.combine(datetime.strptime(text, "%d.%m.%Y").date(), time(0))
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a date (use 2026-05-01 or 01.05.2026)"
                ) from None
    else:
        raise ValueError("no date")
    if at.tzinfo is None:
        try:
            tz = ZoneInfo((zones_of(zone) or (zone,))[0]) if zone else UTC  # a set: its first
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        at = at.replace(tzinfo=tz)
    return at


class WaitExecutor:
    needs_history = False
    needs_entry = False

    def __init__(self, settings: WaitSettings, where: str) -> None:
        self.settings = settings

    def until(self, contact: Contact, now: datetime) -> datetime:
        if self.settings.duration is not None:
            return now + self.settings.duration
        assert self.settings.until_field is not None
        is_custom, name = split_field(self.settings.until_field)
        raw = contact.fields.get(name) if is_custom else getattr(contact, name, None)
        return parse_when(raw, contact.timezone)

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]:
        out: list[TaskOutcome] = []
        for item in items:
            c = item.contact
            if c.due_at is not None and c.due_at <= now:
                out.append(success(note="wait over"))
                continue
            try:
                until = self.until(c, now)
            except ValueError as exc:
                field = self.settings.until_field
                reason = f"wait: field {field!r}: {exc}"
                if self.settings.on_missing == "success":
                    out.append(success(note=reason))
                else:
                    out.append(TaskOutcome(Outcome(Status.FAILED, "no_date", note=reason)))
                continue
            if until <= now:
                out.append(success(note="date already passed"))
            else:
                out.append(
                    TaskOutcome(
                        Outcome(
                            Status.OPEN,
                            StatusDetail.NONE.value,
                            due_at=until,
                            note=f"waiting until {iso_utc(until)}",
                        )
                    )
                )
        return out
