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

from dialerd.domain.changes import Transition
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
    task = names[contact.task_id]
    rule = match_rule(rules, task, outcome.status, outcome.status_detail)
    pending_task_id: int | None = None
    pending_due_at: datetime | None = None
    if rule is not None:
        if rule.to_task not in task_ids:
            raise UnknownTask(f"rule from {task!r} goes to unknown task {rule.to_task!r}")
        pending_task_id = task_ids[rule.to_task]
        pending_due_at = now + rule.delay
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
