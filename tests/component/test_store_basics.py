"""Store behaviour on SQLite and PostgreSQL: campaigns, contacts, transitions, overview, DNC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialerd.domain.campaign_spec import CampaignSpec, load_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import CallResult, Status, StatusDetail
from dialerd.domain.model import Attempt
from dialerd.domain.selection import Condition, ContactSelection
from dialerd.store import AlreadyExists, ContactInCall, InvalidChange, StaleContact, Store
from dialerd.taskflow.call import call_outcome
from dialerd.taskflow.decide import transition_for

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def spec() -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "c1",
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "done", "type": "wait"},
                {"name": "lost", "type": "wait"},
            ],
            "rules": [
                {"from": "call", "status": "success", "to": "done"},
                {"from": "call", "status": "failed", "to": "lost", "delay": "2h"},
            ],
        }
    )


async def test_example_campaign_creates_tasks_and_rules(store: Store) -> None:
    example = load_campaign_spec(REPO / "config" / "campaigns" / "example.toml")
    camp = await store.create_campaign(example, NOW)
    assert [t.name for t in await store.tasks(camp.id)] == [t.name for t in example.tasks]
    rules = await store.rules(camp.id)
    assert len(rules) == len(example.rules)
    assert await store.campaign_spec(camp.id) == example
    with pytest.raises(AlreadyExists):
        await store.create_campaign(example, NOW)


async def test_transition_writes_contact_history_attempt_and_rule(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    tasks = {t.name: t for t in await store.tasks(camp.id)}
    task_ids = {n: t.id for n, t in tasks.items()}
    rules = await store.rules(camp.id)
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+4930123456")], NOW)
    contact = (await store.lease(camp.id, 5, "runner", timedelta(minutes=5), NOW))[0]
    assert contact.id == cid and contact.lease_holder == "runner"

    attempt = Attempt(
        id="a1",
        campaign_id=camp.id,
        contact_id=cid,
        task_id=contact.task_id,
        phone="+4930123456",
        originated_at=NOW,
        hungup_at=NOW + timedelta(seconds=30),
        result=CallResult.INVALID_NUMBER,
    )
    outcome = call_outcome(
        CallResult.INVALID_NUMBER, 1, tasks["call"].retry or pytest.fail("retry"), NOW
    )
    t = transition_for(
        contact,
        outcome,
        rules=rules,
        task_ids=task_ids,
        now=NOW,
        actor="engine",
        count_attempt=True,
        attempt=attempt,
    )
    after = await store.apply_transition(t)
    assert after.status is Status.FAILED
    assert after.status_detail == StatusDetail.INVALID_NUMBER.value
    assert after.pending_task_id == task_ids["lost"]
    assert after.pending_due_at == NOW + timedelta(hours=2)
    assert after.lease_holder is None and after.attempts == 1
    [h] = await store.history(cid)
    assert (h.from_status, h.to_status, h.actor) == (Status.OPEN, Status.FAILED, "engine")
    [a] = await store.attempts(cid)
    assert a.result is CallResult.INVALID_NUMBER

    # waiting shows in the overview with its due time, and enters when due
    rows = await store.overview(camp.id)
    waiting = [r for r in rows if r.waiting_for == "lost"]
    assert waiting and waiting[0].count == 1 and waiting[0].next_due == NOW + timedelta(hours=2)
    assert await store.promote_due(NOW + timedelta(hours=1)) == []
    assert await store.promote_due(NOW + timedelta(hours=2), campaign_id=camp.id) == [cid]
    moved = await store.get_contact(cid)
    assert (moved.task_id, moved.status, moved.pending_task_id) == (
        task_ids["lost"],
        Status.OPEN,
        None,
    )
    assert len(await store.history(cid)) == 2

    # a decision made before the move is refused, not applied to the wrong task
    with pytest.raises(StaleContact):
        await store.apply_transition(t)


async def test_a_decision_on_a_contact_changed_in_the_same_task_is_refused(store: Store) -> None:
    """The do-not-call list (taken during the lease), an edit or a delayed move by hand
    (refused or skipped during the lease, taken once it has run out) leave the contact in its
    task; a call outcome decided on the contact as leased must not undo them."""
    camp = await store.create_campaign(spec(), NOW)
    ids = {t.name: t.id for t in await store.tasks(camp.id)}
    rules = await store.rules(camp.id)
    phones = ["+4930200", "+4930201", "+4930202"]
    dnc, edited, waiting = await store.add_contacts(
        camp.id, [NewContact(phone=p) for p in phones], NOW
    )
    leased = {c.id: c for c in await store.lease(camp.id, 3, "r", timedelta(minutes=5), NOW)}
    assert set(leased) == {dnc, edited, waiting}
    later = NOW + timedelta(seconds=40)
    await store.add_dnc([phones[0]], "cli:root", later)
    only = ContactSelection(contact_ids=(edited,))
    with pytest.raises(ContactInCall, match="being dialled"):  # not during the call ...
        await store.bulk_edit(
            camp.id, only, "api:sup", later, status_detail="hold", refuse_in_call=True
        )
    skipped = await store.bulk_edit(camp.id, only, "api:sup", later, status_detail="hold")
    assert (skipped.changed, skipped.skipped_in_call) == (0, 1)
    # ... but once its lease has run out (a daemon that stopped renewing it)
    expired = NOW + timedelta(minutes=6)
    await store.bulk_edit(
        camp.id, only, "api:sup", expired, status=Status.OPEN, status_detail="hold"
    )
    for at, moved in ((later, 0), (expired, 1)):
        done = await store.move(
            camp.id,
            ContactSelection(contact_ids=(waiting,)),
            "lost",
            "api:sup",
            at,
            enter_at=at + timedelta(days=1),
        )
        assert done.changed == moved
    from dialerd.taskflow.decide import Outcome

    callback = Outcome(
        Status.OPEN,
        StatusDetail.FOLLOW_UP_PERSONAL.value,
        due_at=NOW + timedelta(hours=2),
        follow_up_agent="dora",
    )
    for cid, words in ((dnc, "failed/\\$dnc"), (edited, "open/hold"), (waiting, "waits")):
        t = transition_for(
            leased[cid], callback, rules=rules, task_ids=ids, now=later, actor="agent:dora"
        )
        with pytest.raises(StaleContact, match=words):
            await store.apply_transition(t)
    after = {c.id: c for c in await store.find_contacts(camp.id)}
    assert (after[dnc].status, after[dnc].status_detail) == (Status.FAILED, "$dnc")
    assert (after[edited].status, after[edited].status_detail) == (Status.OPEN, "hold")
    assert after[waiting].pending_task_id == ids["lost"]
    assert all(c.follow_up_agent is None for c in after.values())
    assert len(await store.history(dnc)) == 1


async def test_rule_without_delay_enters_target_in_same_transaction(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    ids = {t.name: t.id for t in await store.tasks(camp.id)}
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+4930111")], NOW)
    c = await store.get_contact(cid)
    from dialerd.taskflow.decide import Outcome

    t = transition_for(
        c,
        Outcome(Status.SUCCESS, "sale"),
        rules=await store.rules(camp.id),
        task_ids=ids,
        now=NOW,
        actor="agent:alice",
    )
    after = await store.apply_transition(t)
    assert (after.task_id, after.status, after.status_detail) == (ids["done"], Status.OPEN, "$none")
    hist = await store.history(cid)
    assert [(h.to_status, h.to_detail) for h in hist] == [
        (Status.SUCCESS, "sale"),
        (Status.OPEN, "$none"),
    ]


async def test_abandonment_counts_survive_reopen(store: Store, store_url: str) -> None:
    camp = await store.create_campaign(spec(), NOW)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone=f"+49301{i:04}") for i in range(4)], NOW
    )
    task = (await store.tasks(camp.id))[0]
    for i, (cid, result) in enumerate(
        zip(
            ids,
            [CallResult.CONNECTED, CallResult.ABANDONED, CallResult.BUSY, CallResult.CONNECTED],
            strict=True,
        )
    ):
        at = NOW + timedelta(minutes=i)
        await store.record_attempt(
            Attempt(
                id=f"x{i}",
                campaign_id=camp.id,
                contact_id=cid,
                task_id=task.id,
                phone="+49",
                originated_at=at,
                answered_at=at + timedelta(seconds=5),
                hungup_at=at + timedelta(seconds=60),
                result=result,
            )
        )
    async with await Store.open(store_url) as again:
        count = await again.abandonment(camp.id, NOW - timedelta(hours=1))
    assert (count.live_answers, count.abandoned) == (3, 1)
    assert count.rate == pytest.approx(1 / 3)
    later = await store.abandonment(camp.id, NOW + timedelta(days=1))
    assert later.live_answers == 0


async def test_move_and_bulk_edit_filtered_set_record_history(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    ids = await store.add_contacts(
        camp.id,
        [
            NewContact(phone=f"+4930{i:05}", fields={"city": "Berlin" if i % 2 else "Köln"})
            for i in range(10)
        ],
        NOW,
    )
    berlin = ContactSelection(task="call", conditions=(Condition("city", "eq", "Berlin"),))
    assert (await store.move(camp.id, berlin, "done", "cli:bob", NOW)).changed == 5
    assert await store.count_contacts(camp.id, ContactSelection(task="done")) == 5
    n = await store.bulk_edit(
        camp.id,
        ContactSelection(task="call"),
        "cli:bob",
        NOW,
        fields={"city": "Bonn", "company": "ACME"},
        status=Status.DECLINED,
        status_detail="not_interested",
    )
    assert n.changed == 5
    rest = await store.find_contacts(camp.id, ContactSelection(task="call"))
    assert {(c.fields["city"], c.company, c.status) for c in rest} == {
        ("Bonn", "ACME", Status.DECLINED)
    }
    for cid in ids:
        assert len(await store.history(cid)) == 1
    with pytest.raises(InvalidChange):
        await store.move(camp.id, berlin, "nowhere", "cli", NOW)


async def test_dnc_numbers_are_never_leased(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    other = await store.create_campaign(spec().model_copy(update={"name": "c2"}), NOW)
    await store.add_contacts(camp.id, [NewContact(phone="+491"), NewContact(phone="+492")], NOW)
    await store.add_contacts(other.id, [NewContact(phone="+492")], NOW)
    assert (await store.add_dnc(["+492"], "cli", NOW, campaign_id=camp.id)).added == 1
    assert (await store.add_dnc(["+492"], "cli", NOW, campaign_id=camp.id)).added == 0
    leased = await store.lease(camp.id, 10, "r", timedelta(minutes=1), NOW)
    assert [c.phone for c in leased] == ["+491"]
    # per-campaign DNC does not touch the other campaign; a global entry does
    assert [c.phone for c in await store.lease(other.id, 10, "r", timedelta(minutes=1), NOW)] == [
        "+492"
    ]
    await store.release_all("r")
    await store.add_dnc(["+492"], "cli", NOW)
    assert await store.lease(other.id, 10, "r", timedelta(minutes=1), NOW) == []
    assert await store.is_dnc("+492", other.id)


async def test_unfinished_attempts_are_found_after_restart(store: Store, store_url: str) -> None:
    camp = await store.create_campaign(spec(), NOW)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone="+491"), NewContact(phone="+492")], NOW
    )
    task = (await store.tasks(camp.id))[0]
    for i, cid in enumerate(ids):
        await store.start_attempt(
            Attempt(
                id=f"u{i}",
                campaign_id=camp.id,
                contact_id=cid,
                task_id=task.id,
                phone="+49",
                originated_at=NOW + timedelta(seconds=i),
            )
        )
    await store.record_attempt(
        Attempt(
            id="u0",
            campaign_id=camp.id,
            contact_id=ids[0],
            task_id=task.id,
            phone="+49",
            hungup_at=NOW + timedelta(seconds=20),
            result=CallResult.BUSY,
        )
    )
    async with await Store.open(store_url) as again:
        assert [a.id for a in await again.unfinished_attempts(camp.id)] == ["u1"]
    [done] = [a for a in await store.attempts(ids[0])]
    assert done.originated_at == NOW and done.result is CallResult.BUSY


async def test_an_abandoned_contact_keeps_its_hold_off_when_moved_or_reopened_by_hand(
    store: Store,
) -> None:
    """Ofcom: a number whose call was abandoned is not called again within 72 h. A move back
    into the call task or a bulk status edit reopens the contact, but not before that."""
    camp = await store.create_campaign(spec(), NOW)
    task_ids = {t.name: t.id for t in await store.tasks(camp.id)}
    rules = await store.rules(camp.id)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone="+4930123450"), NewContact(phone="+4930123451")], NOW
    )
    from dialerd.domain.model import RetryPolicy

    for contact in await store.lease(camp.id, 5, "runner", timedelta(minutes=5), NOW):
        outcome = call_outcome(CallResult.ABANDONED, 1, RetryPolicy({}, 5), NOW)
        t = transition_for(
            contact, outcome, rules=rules, task_ids=task_ids, now=NOW, actor="engine"
        )
        await store.apply_transition(t)
    held = NOW + timedelta(hours=72)
    assert {c.due_at for c in await store.find_contacts(camp.id)} == {held}

    later = NOW + timedelta(hours=1)
    await store.move(camp.id, ContactSelection(contact_ids=(ids[0],)), "call", "cli:bob", later)
    await store.bulk_edit(
        camp.id, ContactSelection(contact_ids=(ids[1],)), "cli:bob", later, status=Status.OPEN
    )
    after = await store.find_contacts(camp.id)
    assert {(c.status_detail, c.due_at) for c in after} == {("$none", held)}
    assert await store.lease(camp.id, 5, "r", timedelta(minutes=5), later) == []
    assert len(await store.lease(camp.id, 5, "r", timedelta(minutes=5), held)) == 2


async def test_a_recorded_attempt_counts_once_and_only_in_its_task(store: Store) -> None:
    """``record_attempt(count=True)`` (a call whose contact was edited meanwhile) counts the
    call in the contact's attempts once; after a move into another task it does not."""
    camp = await store.create_campaign(spec(), NOW)
    tasks = {t.name: t.id for t in await store.tasks(camp.id)}
    kept, moved = await store.add_contacts(
        camp.id, [NewContact(phone="+4930123456"), NewContact(phone="+4930123457")], NOW
    )

    def attempt(aid: str, cid: int) -> Attempt:
        return Attempt(
            id=aid,
            campaign_id=camp.id,
            contact_id=cid,
            task_id=tasks["call"],
            phone="+4930123456",
            originated_at=NOW,
            hungup_at=NOW + timedelta(seconds=30),
            result=CallResult.NO_ANSWER,
        )

    await store.record_attempt(attempt("a1", kept), count=True)
    await store.record_attempt(attempt("a1", kept), count=True)
    c = await store.get_contact(kept)
    assert (c.attempts, c.last_attempt_at) == (1, NOW + timedelta(seconds=30))
    await store.move(camp.id, ContactSelection(contact_ids=(moved,)), "done", "t", NOW)
    await store.record_attempt(attempt("a2", moved), count=True)
    assert (await store.get_contact(moved)).attempts == 0
    assert len(await store.attempts(moved)) == 1
