"""Turning a status change into a :class:`~dialerd.domain.changes.Transition` (pure).

The new status is recorded in the contact's current task first; a matching taskflow rule then
makes the contact wait for its target task (``pending_*``) until the delay has passed. A rule
without delay is due at once: ``Store.apply_transition`` enters the target task in the same
transaction, so the history shows both steps (status in the old task, entry into the new one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dialerd.domain.changes import RuleMove, Transition
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Attempt, Contact, TaskflowRule
from dialerd.taskflow.rules import match_rule


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new status of a contact in its task, before taskflow rules are applied."""

    status: Status
    status_detail: str = StatusDetail.NONE.value
    due_at: datetime | None = None
    follow_up_agent: str | None = None
    note: str | None = None


class UnknownTask(ValueError):
    """A rule names a task the campaign does not have (definition and store disagree)."""


def transition_for(
    contact: Contact,
    outcome: Outcome,
    *,
    rules: Sequence[TaskflowRule],
    task_ids: Mapping[str, int],
    now: datetime,
    actor: str,
    count_attempt: bool = False,
    attempt: Attempt | None = None,
) -> Transition:
    """The transition that records ``outcome`` and applies the campaign's taskflow rules."""
    names = {v: k for k, v in task_ids.items()}
    if contact.task_id not in names:
        raise UnknownTask(f"contact {contact.id} is in task {contact.task_id}, not in this flow")
    move = rule_move(
        rules, names[contact.task_id], outcome.status, outcome.status_detail, task_ids, now
    )
    pending_task_id = move.to_task_id if move is not None else None
    pending_due_at = move.at if move is not None else None
    return Transition(
        contact_id=contact.id,
        actor=actor,
        at=now,
        task_id=contact.task_id,
        status=outcome.status,
        status_detail=outcome.status_detail,
        due_at=outcome.due_at,
        follow_up_agent=outcome.follow_up_agent,
        pending_task_id=pending_task_id,
        pending_due_at=pending_due_at,
        count_attempt=count_attempt,
        note=outcome.note,
        attempt=attempt,
        # Decided on the contact as it was read (for a call: when it was leased). A status
        # changed meanwhile (do-not-call list, an edit or move by hand) wins over this outcome.
        expect_task_id=contact.task_id,
        expect_status=contact.status,
        expect_status_detail=contact.status_detail,
        expect_waiting=contact.pending_task_id is not None,
    )


def rule_move(
    rules: Sequence[TaskflowRule],
    task: str,
    status: Status,
    status_detail: str | None,
    task_ids: Mapping[str, int],
    now: datetime,
) -> RuleMove | None:
    """Where the campaign's rules send a contact of ``task`` given ``status``/``status_detail``
    at ``now`` (``None``: it stays)."""
    rule = match_rule(rules, task, status, status_detail)
    if rule is None:
        return None
    if rule.to_task not in task_ids:
        raise UnknownTask(f"rule from {task!r} goes to unknown task {rule.to_task!r}")
    return RuleMove(task_ids[rule.to_task], now + rule.delay)


def status_moves(
    task_ids: Mapping[str, int],
    rules: Sequence[TaskflowRule],
    status: Status,
    status_detail: str | None,
    now: datetime,
) -> dict[int, RuleMove]:
    """A status set by hand (``PATCH``, bulk edit, ``dialerd edit``) on contacts of any task:
    per task id, where the rules send them, as :func:`transition_for` decides for an outcome.
    DESIGN.md: rules apply whenever a contact's status changes, also by hand."""
    out: dict[int, RuleMove] = {}
    for name, tid in task_ids.items():
        move = rule_move(rules, name, status, status_detail, task_ids, now)
        if move is not None:
            out[tid] = move
    return out
