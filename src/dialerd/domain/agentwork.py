"""Agent work on leads (a lead = a contact an agent works by hand) and the supervisor's reports.

A lead is *held* by the first agent who writes a note on it or accepts it in preview, so two
agents never work the same person at once; the holder or a supervisor releases it. Every note
carries a result label and a result class; closing a lead is a note too, so the last note always
explains why a lead is where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from dialerd.domain.model import Contact


class ResultClass(StrEnum):
    """What a note says about the outcome, coarse enough to report across campaigns."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    PARTIAL = "partial"
    UNCLASSIFIED = "unclassified"


class LeadState(StrEnum):
    """``none``: nobody worked it yet; ``in_progress``: held or noted; ``closed``: done."""

    NONE = "none"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PredefinedNote:
    """A note an agent picks from a list (configured per campaign); it sets the result label."""

    key: str
    text: str
    result_label: str
    result_class: ResultClass = ResultClass.UNCLASSIFIED
    closes: bool = False


@dataclass(frozen=True, slots=True)
class LeadNote:
    id: int
    campaign_id: int
    contact_id: int
    agent: str
    at: datetime
    text: str
    predefined_key: str | None
    result_label: str | None
    result_class: ResultClass
    closes: bool


@dataclass(frozen=True, slots=True)
class Lead:
    """A contact as the work queue shows it: who holds it, its last note, closed or not."""

    contact: Contact
    state: LeadState
    holder: str | None = None
    held_since: datetime | None = None
    closed: bool = False
    last_note: LeadNote | None = None


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Half-open UTC range ``[start, end)``; ``None`` = unbounded. Campaign by id."""

    start: datetime | None = None
    end: datetime | None = None
    campaign_id: int | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    calls: int = 0
    contacts_reached: int = 0
    closed_leads: int = 0
    talk_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    calls: int
    live_answers: int
    abandoned: int
    #: abandoned / live answers (0 when nobody answered).
    abandonment_rate: float
    talk_seconds: float
    #: talk time / agents' working span (first call to last hang-up per agent and day).
    occupancy: float


@dataclass(frozen=True, slots=True)
class Report:
    filter: ReportFilter
    totals: Totals
    per_agent: dict[str, Totals] = field(default_factory=dict)
    per_campaign: dict[str, Totals] = field(default_factory=dict)
    per_result_class: dict[ResultClass, int] = field(default_factory=dict)
    per_day: list[DayFigures] = field(default_factory=list)
