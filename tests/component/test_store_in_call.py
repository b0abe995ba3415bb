"""Changes by hand of contacts in a call, on SQLite and PostgreSQL: one rule for all of them.

A contact is in a call while the dialer has it leased (being dialled, ringing, connected, in
wrap-up, or on preview offer). What the call decides (task, status, detail) is not changed
under it: a move or a lead close of that one contact is refused (``ContactInCall``, naming the
contact and the attempt), a move or status edit of a set leaves it out and counts it; fields
change at any time; a number put on the do-not-call list is taken at once and closes it.
They all applied during the call before (a move or a close) or failed the whole set (a bulk
edit of status), and a move gave up the lease of a call still going on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialerd.domain.agentwork import ResultClass
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Attempt
from dialerd.domain.selection import ContactSelection
from dialerd.store import ContactInCall, StaleContact, Store
from dialerd.store import agentwork as work
from dialerd.taskflow.decide import Outcome, transition_for
from dialerd.taskflow.leads import close_transition
from dialerd.taskflow.manual import add_dnc

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _spec() -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "m",
            "tasks": [{"name": "call", "type": "call"}, {"name": "later", "type": "wait"}],
            "rules": [],
        }
    )


async def _one_in_a_call(store: Store) -> tuple[int, int, int, str]:
    """A campaign of three contacts, the first leased and dialled (attempt ``a-1``):
    (campaign id, the contact in the call, another contact, the attempt id)."""
    camp = await store.create_campaign(_spec(), NOW)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone=f"+4930123456{i}") for i in range(3)], NOW
    )
    (leased,) = await store.lease(camp.id, 1, "dialer-1", timedelta(minutes=5), NOW)
    assert leased.id == ids[0]
    await store.start_attempt(
        Attempt("a-1", camp.id, leased.id, leased.task_id, leased.phone or "", originated_at=NOW)
    )
    return camp.id, ids[0], ids[1], "a-1"


async def test_a_move_of_a_contact_in_a_call_is_refused_and_a_set_skips_it(store: Store) -> None:
    camp, busy, other, attempt = await _one_in_a_call(store)
    with pytest.raises(ContactInCall) as refused:
        await store.move(
            camp, ContactSelection(contact_ids=(busy,)), "later", "op", NOW, refuse_in_call=True
        )
    assert f"contact {busy}" in str(refused.value) and f"attempt {attempt}" in str(refused.value)
    assert refused.value.contact_ids == (busy,)
    # a set: the good contacts are moved, the one in the call is left and counted
    done = await store.move(camp, ContactSelection(task="call"), "later", "op", NOW)
    assert (done.changed, done.skipped_in_call, done.in_call) == (2, 1, (busy,))
    still = await store.get_contact(busy)
    assert still.lease_holder == "dialer-1"  # the call keeps its lease
    assert (await store.history(busy)) == []
    # a delayed move of the set likewise
    back = await store.move(
        camp, ContactSelection(), "call", "op", NOW, enter_at=NOW + timedelta(hours=1)
    )
    assert (back.changed, back.skipped_in_call) == (2, 1)
    assert (await store.get_contact(busy)).pending_task_id is None
    # once the call has ended the contact moves as any other
    await store.release([busy], "dialer-1")
    one = await store.move(
        camp, ContactSelection(contact_ids=(busy,)), "later", "op", NOW, refuse_in_call=True
    )
    assert (one.changed, one.skipped_in_call) == (1, 0)
    assert other != busy


async def test_a_status_edit_of_a_set_skips_the_contact_in_a_call(store: Store) -> None:
    camp, busy, _other, _ = await _one_in_a_call(store)
    done = await store.bulk_edit(
        camp, ContactSelection(task="call"), "op", NOW, status=Status.DECLINED, status_detail="x"
    )
    assert (done.changed, done.skipped_in_call, done.in_call) == (2, 1, (busy,))
    assert (await store.get_contact(busy)).status is Status.OPEN
    # fields change during the call too, for every contact of the set
    fields = await store.bulk_edit(camp, ContactSelection(), "op", NOW, fields={"tier": "a"})
    assert (fields.changed, fields.skipped_in_call) == (3, 0)
    assert (await store.get_contact(busy)).fields == {"tier": "a"}
    with pytest.raises(ContactInCall):
        await store.bulk_edit(
            camp,
            ContactSelection(contact_ids=(busy,)),
            "op",
            NOW,
            status=Status.SUCCESS,
            refuse_in_call=True,
        )


async def test_a_lead_is_not_closed_during_its_call(store: Store) -> None:
    camp, busy, _other, attempt = await _one_in_a_call(store)
    tasks = await store.tasks(camp)
    rules = await store.rules(camp)

    async def close(cid: int) -> None:
        await work.add_note(
            store,
            cid,
            "anna",
            NOW,
            text="signed",
            result_class=ResultClass.POSITIVE,
            result_label="sale",
            close=True,
            finish=lambda c, n: close_transition(
                c, n, tasks=tasks, rules=rules, now=NOW, actor="agent:anna"
            ),
        )

    with pytest.raises(ContactInCall) as refused:
        await close(busy)
    message = str(refused.value)
    assert f"contact {busy}" in message and f"attempt {attempt}" in message
    assert "disposition" in message
    # nothing written: no note, the lead open and unheld, the contact as the call left it
    lead = await work.get_lead(store, busy)
    assert not lead.closed and lead.holder is None and lead.last_note is None
    assert (await store.get_contact(busy)).status is Status.OPEN
    # a note that does not close is taken during the call
    await work.add_note(store, busy, "anna", NOW, text="asks for the brochure")
    # after the call the close applies
    await store.release([busy], "dialer-1")
    await close(busy)
    closed = await store.get_contact(busy)
    assert (closed.status, closed.status_detail) == (Status.SUCCESS, "sale")
    assert (await work.get_lead(store, busy)).closed


async def test_a_number_put_on_the_dnc_list_during_its_call_is_taken_at_once(
    store: Store,
) -> None:
    camp, busy, other, _ = await _one_in_a_call(store)
    phone = (await store.get_contact(busy)).phone
    other_phone = (await store.get_contact(other)).phone
    assert phone is not None and other_phone is not None
    done = await store.add_dnc([phone, other_phone], "api:sup", NOW)
    assert (done.added, done.closed, done.in_call) == (2, 2, (busy,))
    closed = await store.get_contact(busy)
    assert (closed.status, closed.status_detail) == (Status.FAILED, StatusDetail.DNC.value)
    assert closed.lease_holder == "dialer-1"  # the call goes on; the runner gives it back
    again = await store.add_dnc([phone], "api:sup", NOW)
    assert (again.added, again.closed, again.in_call) == (0, 0, ())


async def test_a_dnc_rule_moves_the_contact_in_a_call_on_and_its_outcome_is_stale(
    store: Store,
) -> None:
    """With a $dnc rule, the contact listed during its call moves on at once as any other
    (the rule's history row after the $dnc one), keeps the dialer's lease until the call is
    over (the target task does not take it mid-call), and the call's outcome, decided on the
    contact as leased, is refused as stale rather than reopening it."""
    spec = CampaignSpec.model_validate(
        {
            "name": "m",
            "tasks": [{"name": "call", "type": "call"}, {"name": "later", "type": "wait"}],
            "rules": [{"from": "call", "status": "failed", "detail": "$dnc", "to": "later"}],
        }
    )
    camp = await store.create_campaign(spec, NOW)
    (cid,) = await store.add_contacts(camp.id, [NewContact(phone="+493012345600")], NOW)
    (leased,) = await store.lease(camp.id, 1, "dialer-1", timedelta(minutes=5), NOW)
    done = await add_dnc(store, ["+493012345600"], "api:sup", NOW)
    assert (done.closed, done.in_call) == (1, (cid,))
    moved = await store.get_contact(cid)
    later = {t.name: t.id for t in await store.tasks(camp.id)}["later"]
    assert (moved.task_id, moved.status) == (later, Status.OPEN)
    assert moved.lease_holder == "dialer-1"
    steps = [(h.to_status, h.to_detail, h.actor) for h in await store.history(cid)]
    assert steps == [
        (Status.FAILED.value, StatusDetail.DNC.value, "api:sup"),
        (Status.OPEN.value, StatusDetail.NONE.value, "taskflow"),
    ]
    outcome = transition_for(
        leased,
        Outcome(Status.OPEN, StatusDetail.FOLLOW_UP_AUTO.value),
        rules=await store.rules(camp.id),
        task_ids={t.name: t.id for t in await store.tasks(camp.id)},
        now=NOW,
        actor="dialer",
    )
    with pytest.raises(StaleContact):
        await store.apply_transition(outcome)
    assert (await store.get_contact(cid)).task_id == later
