"""Values returned by contact look-ups and idempotent adds (API and CLI use them).

An add that is retried (a CRM re-sending a batch after a timeout) must not create a contact
twice, so every contact offered gets an :class:`AddOutcome` saying what became of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AddResult(StrEnum):
    #: inserted now
    CREATED = "created"
    #: a contact with this ``external_id`` is in the campaign already: nothing written
    EXISTS = "exists"
    #: another contact of the campaign has this phone number: not inserted (reported, not merged)
    DUPLICATE_PHONE = "duplicate_phone"


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """What became of one offered contact; ``contact_id`` is the new or the existing contact."""

    result: AddResult
    contact_id: int


@dataclass(frozen=True, slots=True)
class DncEntry:
    """One do-not-call number; ``campaign_id`` ``None`` is the global list."""

    phone: str
    campaign_id: int | None
    added_at: datetime
    actor: str
    note: str | None = None
