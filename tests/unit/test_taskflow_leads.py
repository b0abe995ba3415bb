"""Closing a lead finishes its contact in a call task; the status comes from the closing note."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dialerd.domain.agentwork import LeadNote, ResultClass
from dialerd.domain.enums import Status, TaskType
from dialerd.domain.model import Contact, Task, TaskflowRule
from dialerd.taskflow.leads import close_outcome, close_transition

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TASKS = [Task(1, 1, "call", TaskType.CALL), Task(2, 1, "won", TaskType.EXPORT)]
RULES = [TaskflowRule("call", Status.SUCCESS, "won")]
OPEN = Contact(7, 1, 1, Status.OPEN, "$follow_up_personal", follow_up_agent="anna")


def note(result_class: ResultClass, label: str | None = None) -> LeadNote:
    return LeadNote(1, 1, 7, "anna", NOW, "text", None, label, result_class, True)


@pytest.mark.parametrize(
    ("result_class", "label", "status", "detail"),
    [
        (ResultClass.POSITIVE, "sale", Status.SUCCESS, "sale"),
        (ResultClass.NEGATIVE, "not_interested", Status.DECLINED, "not_interested"),
        (ResultClass.NEGATIVE, None, Status.DECLINED, "lead_closed"),
        (ResultClass.PARTIAL, "send info", Status.FAILED, "send info"),
        (ResultClass.UNCLASSIFIED, "", Status.FAILED, "lead_closed"),
        (ResultClass.POSITIVE, "$dnc", Status.SUCCESS, "lead_closed"),  # reserved: not taken
    ],
)
def test_the_closing_note_gives_the_final_status(
    result_class: ResultClass, label: str | None, status: Status, detail: str
) -> None:
    outcome = close_outcome(note(result_class, label))
    assert (outcome.status, outcome.status_detail) == (status, detail)
    assert outcome.due_at is None and outcome.follow_up_agent is None  # no callback left


def test_an_open_contact_in_a_call_task_is_finished_and_moved_on_by_the_rules() -> None:
    t = close_transition(
        OPEN, note(ResultClass.POSITIVE, "sale"), tasks=TASKS, rules=RULES, now=NOW, actor="x"
    )
    assert t is not None
    assert (t.status, t.status_detail, t.pending_task_id) == (Status.SUCCESS, "sale", 2)
    assert t.follow_up_agent is None and t.due_at is None
    assert not t.release_lease  # a call in flight keeps its lease; its outcome is then stale
    assert (t.expect_status, t.expect_status_detail) == (Status.OPEN, "$follow_up_personal")


@pytest.mark.parametrize(
    "contact",
    [
        replace(OPEN, status=Status.DECLINED, status_detail="x"),  # finished already
        replace(OPEN, pending_task_id=2),  # waiting for a delayed move
        replace(OPEN, task_id=2),  # not in a call task
    ],
    ids=["finished", "waiting", "not a call task"],
)
def test_other_contacts_are_left_as_they_are(contact: Contact) -> None:
    assert (
        close_transition(
            contact, note(ResultClass.POSITIVE), tasks=TASKS, rules=RULES, now=NOW, actor="x"
        )
        is None
    )
