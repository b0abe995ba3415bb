"""The store calls of a dial batch and of a finished call, on SQLite and PostgreSQL.

The engine dials a pacing decision's contacts as one batch (one do-not-call query, one insert of
all attempts before any Originate) and writes each finished call with ``apply_transition`` in
SQLAlchemy Core; these pin what those statements must keep doing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import CallResult, Status, StatusDetail
from dialerd.domain.model import Attempt
from dialerd.store import Store
from dialerd.taskflow.decide import Outcome, transition_for

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def spec(name: str = "c1") -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": name,
            "tasks": [{"name": "call", "type": "call"}, {"name": "done", "type": "wait"}],
            "rules": [{"from": "call", "status": "success", "to": "done"}],
        }
    )


def started(aid: str, camp: int, cid: int, task: int, phone: str) -> Attempt:
    return Attempt(
        id=aid,
        campaign_id=camp,
        contact_id=cid,
        task_id=task,
        phone=phone,
        server="sim1",
        originated_at=NOW,
    )


async def test_dnc_numbers_answers_for_a_batch_with_global_and_campaign_scope(
    store: Store,
) -> None:
    camp = await store.create_campaign(spec(), NOW)
    other = await store.create_campaign(spec("c2"), NOW)
    await store.add_dnc(["+491"], "cli", NOW)
    await store.add_dnc(["+492"], "cli", NOW, campaign_id=camp.id)
    await store.add_dnc(["+493"], "cli", NOW, campaign_id=other.id)
    phones = ["+491", "+492", "+493", "+494", "+491", ""]
    assert await store.dnc_numbers(phones, camp.id) == {"+491", "+492"}
    assert await store.dnc_numbers(phones, other.id) == {"+491", "+493"}
    assert await store.dnc_numbers(phones) == {"+491"}
    assert await store.dnc_numbers([]) == set()
    many = [f"+4930{i:06d}" for i in range(1200)] + ["+492"]
    assert await store.dnc_numbers(many, camp.id) == {"+492"}  # past one IN list's chunk


async def test_start_attempts_writes_a_batch_once_and_a_crash_leaves_them_unfinished(
    store: Store,
) -> None:
    camp = await store.create_campaign(spec(), NOW)
    phones = [f"+4930{i}" for i in range(3)]
    ids = await store.add_contacts(camp.id, [NewContact(phone=p) for p in phones], NOW)
    task = (await store.tasks(camp.id))[0].id
    batch = [started(f"a{i}", camp.id, cid, task, phones[i]) for i, cid in enumerate(ids)]
    await store.start_attempts(batch)
    await store.start_attempts(batch[:1])  # written again (a retry): merged, not doubled
    await store.start_attempts([])
    unfinished = await store.unfinished_attempts(camp.id)
    assert sorted(a.id for a in unfinished) == ["a0", "a1", "a2"]
    assert {a.server for a in unfinished} == {"sim1"}
    assert [len(await store.attempts(cid)) for cid in ids] == [1, 1, 1]


async def test_core_transition_merges_the_started_attempt_and_counts_a_live_answer(
    store: Store,
) -> None:
    camp = await store.create_campaign(spec(), NOW)
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+4930777")], NOW)
    [contact] = await store.lease(camp.id, 1, "r", timedelta(minutes=5), NOW)
    ids = {t.name: t.id for t in await store.tasks(camp.id)}
    await store.start_attempts([started("a1", camp.id, cid, contact.task_id, "+4930777")])
    finished = Attempt(
        id="a1",
        campaign_id=camp.id,
        contact_id=cid,
        task_id=contact.task_id,
        phone="+4930777",
        ringing_at=NOW + timedelta(seconds=1),
        answered_at=NOW + timedelta(seconds=5),
        connected_at=NOW + timedelta(seconds=6),
        hungup_at=NOW + timedelta(seconds=36),
        result=CallResult.CONNECTED,
        agent="alice",
        disposition="sale",
    )
    t = transition_for(
        contact,
        Outcome(Status.SUCCESS, "sale"),
        rules=await store.rules(camp.id),
        task_ids=ids,
        now=NOW + timedelta(seconds=40),
        actor="agent:alice",
        count_attempt=True,
        attempt=finished,
    )
    after = await store.apply_transition(t)
    # the rule without delay moved it on in the same transaction, as its own history step
    assert (after.task_id, after.status, after.status_detail) == (ids["done"], Status.OPEN, "$none")
    assert after.lease_holder is None and after.attempts == 0
    assert after.last_attempt_at == NOW + timedelta(seconds=40)
    contact_now, history, attempts = await store.contact_record(cid)
    assert contact_now == after
    assert [(h.to_status, h.to_detail, h.actor) for h in history] == [
        (Status.SUCCESS, "sale", "agent:alice"),
        (Status.OPEN, StatusDetail.NONE.value, "taskflow"),
    ]
    [a] = attempts
    # the started row's fields are kept, the finished ones merged in
    assert (a.server, a.originated_at, a.agent, a.result) == ("sim1", NOW, "alice", finished.result)
    assert a.disposition == "sale"
    count = await store.abandonment(camp.id, NOW)
    assert (count.live_answers, count.abandoned) == (1, 0)
    # the attempt written again (an outcome after a restart): not counted twice
    await store.record_attempt(finished)
    count = await store.abandonment(camp.id, NOW)
    assert (count.live_answers, count.abandoned) == (1, 0)
