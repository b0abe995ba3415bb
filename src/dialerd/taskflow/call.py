"""Call-task semantics (pure): an attempt's result or an agent's disposition -> new status.

A call task completes only with a final result. Until then the contact stays ``open`` with
``$follow_up_auto`` (an automatic retry, due after the retry policy's delay for that result) or
``$follow_up_personal`` (a callback booked for one agent at one time). Every attempt counts:
at the policy's maximum (per result, and overall) the contact is ``failed`` / ``$max_attempts``.
An abandoned call (answered, no agent within the connect limit) is not redialed before the
hold-off (default 72 h) has passed, nor before the delay of the policy's ``abandoned`` rule,
whose ``max_attempts`` caps the attempts like any other rule's. An invalid number is
``failed`` / ``$invalid_number``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialerd.domain.enums import CallResult, Status, StatusDetail
from dialerd.domain.model import RetryPolicy
from dialerd.taskflow.decide import Outcome

#: Delay before an agent's "call again" (open without a callback time) when the policy has no
#: no-answer rule to borrow its delay from.
DEFAULT_AGENT_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Disposition:
    """What the agent reports after a connected call.

    ``callback_at`` books a personal follow-up (for ``callback_agent``, default the agent who
    talked); ``status=open`` without a callback asks for an automatic retry.
    """

    status: Status
    status_detail: str | None = None
    note: str | None = None
    callback_at: datetime | None = None
    callback_agent: str | None = None


def _max_attempts(policy: RetryPolicy, result: CallResult | None) -> int:
    rule = policy.rules.get(result) if result is not None else None
    return min(policy.max_attempts, rule.max_attempts) if rule else policy.max_attempts


def _exhausted(note: str) -> Outcome:
    return Outcome(Status.FAILED, StatusDetail.MAX_ATTEMPTS.value, note=note)


def call_outcome(
    result: CallResult,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    *,
    abandon_hold_off: timedelta = timedelta(hours=72),
    disposition: Disposition | None = None,
    agent: str | None = None,
) -> Outcome:
    """The contact's new status in its call task after one finished attempt.

    ``attempts`` counts the attempts in this task INCLUDING the one that just finished.
    A connected call needs the agent's ``disposition`` (the engine applies the campaign's
    default when the wrap-up limit passes without one).
    """
    if result is CallResult.CONNECTED:
        if disposition is None:
            raise ValueError("a connected call needs a disposition (or the campaign default)")
        return disposition_outcome(disposition, attempts, policy, now, agent=agent)
    if result is CallResult.INVALID_NUMBER:
        return Outcome(Status.FAILED, StatusDetail.INVALID_NUMBER.value)
    if result is CallResult.ABANDONED:
        if attempts >= _max_attempts(policy, result):
            return _exhausted("abandoned on the last allowed attempt")
        rule = policy.rules.get(result)
        hold = max(abandon_hold_off, rule.delay) if rule is not None else abandon_hold_off
        return Outcome(
            Status.OPEN,
            StatusDetail.ABANDONED.value,
            due_at=now + hold,
            note="abandoned: not redialed before the hold-off",
        )
    rule = policy.rules.get(result)
    if rule is None:
        detail = result.status_detail
        return Outcome(
            Status.FAILED,
            detail.value if detail is not None else StatusDetail.NONE.value,
            note=f"{result.value}: final (no retry rule)",
        )
    if attempts >= _max_attempts(policy, result):
        return _exhausted(f"{result.value} after {attempts} attempt(s)")
    return Outcome(
        Status.OPEN,
        StatusDetail.FOLLOW_UP_AUTO.value,
        due_at=now + rule.delay,
        note=f"{result.value}: retry",
    )


def disposition_outcome(
    disposition: Disposition,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    *,
    agent: str | None = None,
) -> Outcome:
    """The new status from an agent's disposition of a connected call."""
    d = disposition
    if d.callback_at is not None:
        if d.callback_at.tzinfo is None:
            raise ValueError("callback time must be timezone-aware")
        return Outcome(
            Status.OPEN,
            StatusDetail.FOLLOW_UP_PERSONAL.value,
            due_at=d.callback_at,
            follow_up_agent=d.callback_agent or agent,
            note=d.note,
        )
    if d.status is Status.OPEN:
        if attempts >= policy.max_attempts:
            return Outcome(Status.FAILED, StatusDetail.MAX_ATTEMPTS.value, note=d.note)
        rule = policy.rules.get(CallResult.NO_ANSWER)
        delay = rule.delay if rule is not None else DEFAULT_AGENT_RETRY
        return Outcome(
            Status.OPEN, StatusDetail.FOLLOW_UP_AUTO.value, due_at=now + delay, note=d.note
        )
    return Outcome(d.status, d.status_detail or StatusDetail.NONE.value, note=d.note)
