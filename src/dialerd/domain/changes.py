"""Changes to contacts, decided above the store and persisted atomically by it.

The taskflow decides a :class:`Transition` (pure, no I/O); ``Store.apply_transition`` writes the
contact's new task/status/detail/due time, the history row and, for call tasks, the finished
attempt in one transaction. Keeping the decision a plain value makes the taskflow testable
without a database and the store free of business rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dialerd.domain.enums import Status
from dialerd.domain.model import Attempt, Contact


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact to add (phone already normalised to E.164 by whoever builds it)."""

    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    timezone: str | None = None
    external_id: str | None = None
    list_name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RuleMove:
    """Where a taskflow rule sends a contact after a status change: into ``to_task_id`` at
    ``at`` (at once when ``at`` is not after the change; else the contact waits)."""

    to_task_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """The decided new state of one contact.

    ``task_id`` is the task the contact is in afterwards (a move when it differs from the current
    one: attempts restart at 0). ``pending_task_id``/``pending_due_at`` make the contact wait for a
    delayed rule. ``count_attempt`` adds one to the contact's attempts in its task. ``attempt`` is
    the finished (or updated) attempt written in the same transaction. ``expect_task_id``,
    ``expect_status``, ``expect_status_detail`` and ``expect_waiting`` (whether the contact waits
    for a delayed move) guard against a decision made on stale data: the contact was moved,
    closed by the do-not-call list or given another status by hand since the decision's data
    was read (e.g. while its call was in flight). The store then refuses with ``StaleContact``;
    ``None`` checks nothing.
    """

    contact_id: int
    actor: str
    at: datetime
    task_id: int
    status: Status
    status_detail: str
    due_at: datetime | None = None
    follow_up_agent: str | None = None
    pending_task_id: int | None = None
    pending_due_at: datetime | None = None
    count_attempt: bool = False
    note: str | None = None
    attempt: Attempt | None = None
    fields_update: dict[str, Any] | None = None
    expect_task_id: int | None = None
    expect_status: Status | None = None
    expect_status_detail: str | None = None
    expect_waiting: bool | None = None
    release_lease: bool = True


@dataclass(frozen=True, slots=True)
class JournaledOutcome:
    """A call's outcome kept in the daemon's journal (the database was away at a stop), for
    the replay at a start to write once (``Store.write_journaled``).

    ``transition`` is what the runner would have written, its attempt included. It is written
    whole unless the contact moved on since the call, decided on what the store holds in the
    same transaction:

    - *changed*: its ``expect_*`` guards fail (moved, given a status by hand, do-not-call list)
      or it was deleted: that change wins, the attempt is recorded alone (``stale``);
    - *superseded*: it was dialed again since the journaled call (another attempt of it
      originated later) or another lease holder than ``holder`` holds it now (another daemon
      leased it after this one's lease lapsed): its current task and status are newer than the
      outcome and stay; the attempt is recorded, and a history row that changes nothing notes
      what the outcome would have set (``superseded_note`` and why), so nothing is lost.

    ``journal`` names the journal (its file name): the store marks the outcome written in the
    same transaction, so a replay cut anywhere never writes it twice.
    """

    journal: str
    transition: Transition
    holder: str
    superseded_note: str


class JournalWrite(StrEnum):
    """What ``Store.write_journaled`` did (the ``outcome`` label of
    ``dialerd_journal_outcomes_total``)."""

    APPLIED = "applied"
    ALREADY_STORED = "already_stored"
    STALE = "stale"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class JournalWritten:
    """``outcome`` with the contact as stored afterwards (None: deleted, or not read because
    the outcome was stored already) and, for ``stale``/``superseded``, why."""

    outcome: JournalWrite
    contact: Contact | None = None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class SetChange:
    """What a manual change of a set of contacts (a move, a bulk edit of status) did.

    ``changed``: contacts changed. ``skipped_in_call``: contacts of the selection left as
    they were because they are in a call right now (leased: being dialled, ringing,
    connected, in wrap-up or on preview offer): the call's outcome decides them, and a
    change made under it was either lost to it or lost the outcome. ``in_call``: the first
    ten of those, in id order, for the message that names them. Good contacts beside them
    are changed: one busy contact does not fail the whole set.
    """

    changed: int
    skipped_in_call: int = 0
    in_call: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DncAdded:
    """What adding numbers to a do-not-call list did: ``added`` numbers new on the list;
    ``closed`` open contacts of call tasks with them now ``failed``/``$dnc``; ``in_call``
    the ids of those of them in a call right now (their call goes on, its outcome is
    recorded and does not reopen them; at most 100)."""

    added: int
    closed: int = 0
    in_call: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """Count of contacts in one task x status x status_detail.

    Waiting contacts (pending a delayed rule) are counted in their own rows with
    ``waiting_for`` = the target task's name and ``next_due`` = the earliest due time.
    """

    task: str
    status: Status
    status_detail: str
    count: int
    waiting_for: str | None = None
    next_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class AbandonmentCount:
    live_answers: int
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.live_answers if self.live_answers else 0.0


@dataclass(frozen=True, slots=True)
class LeaseGuard:
    """Which contacts may be called now by their own local time (calling-hours guard).

    ``allowed_timezones`` are the IANA zones whose local time is inside the calling hours now;
    ``allow_unknown_timezone`` covers contacts without a zone (the engine decides it from the
    campaign's zone). Compute it with ``dialerd.taskflow.calling_hours``.
    """

    allowed_timezones: frozenset[str]
    allow_unknown_timezone: bool
