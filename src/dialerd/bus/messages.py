"""What goes over MQTT: the disposition an agent desktop sends, and event encoding.

A disposition arrives from outside the daemon (an agent's desktop, a CRM), so it is validated
strictly: unknown keys, system-only status details and inconsistent follow-ups are refused
with a reason, never half-applied.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dialerd.domain.clock import iso_utc
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.keys import one_name

_PLAIN_DETAIL = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

AGENT_DETAILS = frozenset(
    {
        StatusDetail.NONE,
        StatusDetail.FOLLOW_UP_AUTO,
        StatusDetail.FOLLOW_UP_PERSONAL,
        StatusDetail.DNC,
        StatusDetail.INVALID_NUMBER,
        StatusDetail.MACHINE,
    }
)
"""Reserved details an agent may set; the rest ($busy, $abandoned, $max_attempts ...) are the
dialer's own findings and cannot be claimed by a desktop."""


#: The longest attempt id a disposition may name (MQTT and HTTP alike).
MAX_ATTEMPT_ID = 128
#: The longest note of a disposition (MQTT and HTTP alike).
MAX_DISPOSITION_NOTE = 4000


def attempt_as_text(value: object) -> object:
    """Desktops that kept numeric attempt ids still work: an int is taken as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class AttemptIdKeys(BaseModel):
    """The ``attempt_id`` of a disposition (MQTT and HTTP alike): its old name ``attempt`` is
    taken too, the same value under both once, and a number as its text."""

    @model_validator(mode="before")
    @classmethod
    def _old_attempt_name(cls, data: Any) -> Any:
        return one_name(data, "attempt_id", "attempt")

    @field_validator("attempt_id", mode="before", check_fields=False)
    @classmethod
    def _attempt_as_text(cls, value: object) -> object:
        return attempt_as_text(value)


class Disposition(AttemptIdKeys):
    """An agent's result for one attempt: status, detail, note and optional callback time.

    The attempt is ``attempt_id``, as in the HTTP disposition and every other message; its old
    name ``attempt`` is still taken (deprecated).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=64)
    #: The attempt id as the engine reports it; absent = the agent's current call.
    attempt_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ATTEMPT_ID,
        validation_alias=AliasChoices("attempt_id", "attempt"),
    )
    status: Status
    status_detail: str = StatusDetail.NONE.value
    note: str | None = Field(default=None, max_length=MAX_DISPOSITION_NOTE)
    callback_at: AwareDatetime | None = None

    @property
    def attempt(self) -> str | None:
        """The old name of :attr:`attempt_id`."""
        return self.attempt_id

    @model_validator(mode="after")
    def _consistent(self) -> Disposition:
        detail = self.status_detail
        if detail.startswith("$"):
            if detail not in AGENT_DETAILS:
                raise ValueError(f"status_detail {detail!r} is set by the dialer, not by an agent")
        elif not _PLAIN_DETAIL.match(detail):
            raise ValueError(
                f"status_detail {detail!r} must be a word of a-z, 0-9, '_' (or a reserved $value)"
            )
        follow_up = detail in (StatusDetail.FOLLOW_UP_AUTO, StatusDetail.FOLLOW_UP_PERSONAL)
        if self.status is Status.OPEN and not follow_up:
            raise ValueError(
                "status 'open' needs status_detail $follow_up_auto or $follow_up_personal"
            )
        if follow_up and self.status is not Status.OPEN:
            raise ValueError(f"{detail} keeps the contact open: status must be 'open'")
        if detail == StatusDetail.FOLLOW_UP_PERSONAL and self.callback_at is None:
            raise ValueError("$follow_up_personal needs callback_at (ISO 8601 with time zone)")
        if self.callback_at is not None and detail != StatusDetail.FOLLOW_UP_PERSONAL:
            raise ValueError("callback_at is only for status_detail $follow_up_personal")
        return self


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def encode_event(kind: str, payload: Mapping[str, Any], now: datetime) -> bytes:
    """One JSON object: ``type`` and ``ts`` first, then the event's own fields."""
    body = {"type": kind, "ts": iso_utc(now), **payload}
    return json.dumps(body, default=_default, separators=(",", ":")).encode()
