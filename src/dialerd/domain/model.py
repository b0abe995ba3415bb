"""Frozen dataclasses of the dialerd vocabulary.

These are the values that cross layer boundaries: the store returns them, the taskflow decides on
them, the engine and the API pass them on. ORM rows never leave ``dialerd.store``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from dialerd.domain.enums import (
    AgentState,
    CallResult,
    CampaignStatus,
    DialMode,
    Status,
    TaskType,
)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """How a call task retries after one kind of unsuccessful result."""

    delay: timedelta
    max_attempts: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Per-result retry rules of a call task; a result with no rule is final (``failed``).

    ``max_attempts`` caps all attempts of the contact in this task, whatever the result.
    """

    rules: dict[CallResult, RetryRule] = field(default_factory=dict)
    max_attempts: int = 5


def default_retry_policy() -> RetryPolicy:
    """The documented defaults of the daemon's ``[retry]`` table: what a call task gets when
    neither it nor its campaign nor the daemon's configuration says otherwise.

    An ``abandoned`` rule caps the attempts of a contact whose last call was abandoned; its
    delay is never shorter than the campaign's ``abandon_hold_off``.
    """
    return RetryPolicy(
        rules={
            CallResult.BUSY: RetryRule(timedelta(minutes=10), 5),
            CallResult.NO_ANSWER: RetryRule(timedelta(hours=1), 5),
            CallResult.CONGESTION: RetryRule(timedelta(minutes=5), 5),
            CallResult.MACHINE: RetryRule(timedelta(hours=4), 3),
            CallResult.FAILED_UNKNOWN: RetryRule(timedelta(minutes=15), 3),
            CallResult.ABANDONED: RetryRule(timedelta(hours=72), 3),
        },
        max_attempts=5,
    )


@dataclass(frozen=True, slots=True)
class TimePeriod:
    """A weekly window ``weekday`` (0 = Monday) from ``start`` to ``end`` (campaign local time)."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    status: CampaignStatus = CampaignStatus.DISABLED
    dial_mode: DialMode = DialMode.PROGRESSIVE
    timezone: str = "UTC"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    campaign_id: int
    name: str
    type: TaskType
    settings: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    """A call task's retry policy as its definition gives it, over the built-in defaults
    (:func:`default_retry_policy`) where the task and its campaign leave it to the daemon; the
    engine uses the daemon's ``[retry]`` there instead."""


@dataclass(frozen=True, slots=True)
class TaskflowRule:
    """(from task, status, optional status_detail) -> (to task, delay).

    ``status_detail=None`` matches any detail; a rule naming the detail is more specific and wins.
    """

    from_task: str
    status: Status
    to_task: str
    status_detail: str | None = None
    delay: timedelta = timedelta(0)

    @property
    def specificity(self) -> int:
        return 0 if self.status_detail is None else 1


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    campaign_id: int
    task_id: int
    status: Status
    status_detail: str
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    timezone: str | None = None
    external_id: str | None = None
    list_name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    due_at: datetime | None = None
    follow_up_agent: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Waiting on a delayed taskflow rule: enters ``pending_task_id`` as open at ``pending_due_at``.
    pending_task_id: int | None = None
    pending_due_at: datetime | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    last_attempt_at: datetime | None = None
    import_id: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One append-only row of a contact's status history."""

    id: int
    contact_id: int
    at: datetime
    actor: str
    from_task_id: int | None
    to_task_id: int | None
    from_status: Status | None
    to_status: Status | None
    from_detail: str | None
    to_detail: str | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One dialing of one contact: its timeline and outcome. Append-only once finished."""

    id: str
    campaign_id: int
    contact_id: int
    task_id: int
    phone: str
    server: str | None = None
    agent: str | None = None
    originated_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    hungup_at: datetime | None = None
    result: CallResult | None = None
    cause: str | None = None
    disposition: str | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent and the campaigns they take: those named in ``campaigns``, those whose queue
    is one of their ``skills``, and, naming neither, every campaign (also one created later)."""

    name: str
    interface: str
    campaigns: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    state: AgentState = AgentState.OFFLINE

    @property
    def every_campaign(self) -> bool:
        """Names neither campaigns nor skills: takes calls of every campaign."""
        return not self.campaigns and not self.skills

    def works(self, campaign: str, queue: str) -> bool:
        """Whether the agent works the campaign named ``campaign`` whose Asterisk queue is
        ``queue``: one rule for the calls it takes and the leads it may work by hand."""
        return self.every_campaign or campaign in self.campaigns or queue in self.skills
