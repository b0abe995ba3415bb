"""Closing a lead finishes its contact (pure).

A lead is a contact an agent works by hand (``dialerd.store.agentwork``). Closing it is the
agent's final word on that person: the contact must not go back to the dialer's pool (a sale
called again) nor stay open work. So a close in a call task gives the contact its final status
there, from the closing note, and the campaign's taskflow rules move it on as after a
disposition:

================== ===============
closing note class contact status
================== ===============
positive           ``success``
negative           ``declined``
partial            ``failed``
unclassified       ``failed``
================== ===============

``status_detail`` is the note's result label (``sale``, ``not_interested``), or
``lead_closed`` without one (or with a label reserved for the dialer, ``$...``). A contact that
is not open in a call task (already finished, waiting for a delayed move, in another task type)
is left as it is: the lead is closed, the contact's status already says where it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from dialerd.domain.agentwork import LeadNote, ResultClass
from dialerd.domain.changes import Transition
from dialerd.domain.enums import Status, TaskType, is_reserved_detail
from dialerd.domain.model import Contact, Task, TaskflowRule
from dialerd.taskflow.decide import Outcome, transition_for

#: status_detail of a closed lead whose note has no usable result label.
LEAD_CLOSED = "lead_closed"

_STATUS = {
    ResultClass.POSITIVE: Status.SUCCESS,
    ResultClass.NEGATIVE: Status.DECLINED,
    ResultClass.PARTIAL: Status.FAILED,
    ResultClass.UNCLASSIFIED: Status.FAILED,
}


def close_outcome(note: LeadNote) -> Outcome:
    """The contact's final status in its task from the note that closes the lead."""
    label = (note.result_label or "").strip()
    detail = label if label and not is_reserved_detail(label) else LEAD_CLOSED
    return Outcome(_STATUS[note.result_class], detail, note=f"lead closed: {note.text}")


def close_transition(
    contact: Contact,
    note: LeadNote,
    *,
    tasks: Sequence[Task],
    rules: Sequence[TaskflowRule],
    now: datetime,
    actor: str,
) -> Transition | None:
    """What closing the lead does to its contact; None: nothing (not open in a call task).

    The lease is left as it is (``release_lease=False``): the store refuses a close while the
    contact is in a call (``ContactInCall``), so a lease seen here has run out, and giving it
    back is its runner's business.
    """
    by_id = {t.id: t for t in tasks}
    task = by_id.get(contact.task_id)
    if (
        task is None
        or task.type is not TaskType.CALL
        or contact.status is not Status.OPEN
        or contact.pending_task_id is not None
    ):
        return None
    t = transition_for(
        contact,
        close_outcome(note),
        rules=rules,
        task_ids={t.name: t.id for t in tasks},
        now=now,
        actor=actor,
    )
    return replace(t, release_lease=False)
