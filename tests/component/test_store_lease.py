"""Leasing on SQLite and PostgreSQL: atomic under concurrency, expiry, order, filters, guard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import LeaseGuard, NewContact, Transition
from dialerd.domain.enums import Status, StatusDetail
from dialerd.store import Store
from dialerd.taskflow.calling_hours import lease_guard

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


def spec(name: str = "c", **extra: object) -> CampaignSpec:
    data: dict[str, object] = {
        "name": name,
        "tasks": [{"name": "call", "type": "call"}, {"name": "done", "type": "wait"}],
    }
    data.update(extra)
    return CampaignSpec.model_validate(data)


async def test_concurrent_claimers_never_share_a_contact(store: Store, store_url: str) -> None:
    camp = await store.create_campaign(spec(), NOW)
    total = 600
    await store.add_contacts(camp.id, [NewContact(phone=f"+4930{i:06}") for i in range(total)], NOW)
    claimers = 20
    stores = [await Store.open(store_url) for _ in range(claimers)]
    claimed: list[list[int]] = [[] for _ in range(claimers)]

    async def claim(i: int) -> None:
        while True:
            got = await stores[i].lease(camp.id, 7, f"runner-{i}", TTL, NOW)
            if not got:
                return
            claimed[i].extend(c.id for c in got)
            await asyncio.sleep(0)

    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(claimers):
                tg.create_task(claim(i))
    finally:
        for s in stores:
            await s.close()
    flat = [cid for ids in claimed for cid in ids]
    assert len(flat) == len(set(flat)), "a contact was handed out twice"
    assert len(flat) == total
    assert sum(1 for ids in claimed if ids) > 1, "claims did not interleave at all"


async def test_expired_lease_returns_contact_to_pool(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+491")], NOW)
    assert [c.id for c in await store.lease(camp.id, 1, "a", TTL, NOW)] == [cid]
    assert await store.lease(camp.id, 1, "b", TTL, NOW + TTL - timedelta(seconds=1)) == []
    again = await store.lease(camp.id, 1, "b", TTL, NOW + TTL)
    assert [(c.id, c.lease_holder) for c in again] == [(cid, "b")]
    assert await store.release([cid], "a") == 0  # not a's any more
    assert await store.release([cid], "b") == 1
    assert len(await store.lease(camp.id, 1, "c", TTL, NOW + TTL)) == 1


async def _set(store: Store, cid: int, task_id: int, **kw: object) -> None:
    args: dict[str, object] = {
        "contact_id": cid,
        "actor": "test",
        "at": NOW - timedelta(hours=1),
        "task_id": task_id,
        "status": Status.OPEN,
        "status_detail": StatusDetail.FOLLOW_UP_AUTO.value,
        "count_attempt": True,
    }
    args.update(kw)
    await store.apply_transition(Transition(**args))  # type: ignore[arg-type]


async def test_lease_order_follow_ups_fresh_retries_then_sort(store: Store) -> None:
    camp = await store.create_campaign(spec(sort={"field": "priority", "direction": "desc"}), NOW)
    call = (await store.tasks(camp.id))[0].id
    ids = await store.add_contacts(
        camp.id,
        [
            NewContact(phone=f"+49{i}", fields={"priority": p})
            for i, p in enumerate([1, 5, 3, 9, 2, 7, 4])
        ],
        NOW,
    )
    # ids[0]: retry due earlier, ids[1]: retry due later, ids[2]: retry not yet due
    await _set(store, ids[0], call, due_at=NOW - timedelta(minutes=30))
    await _set(store, ids[1], call, due_at=NOW - timedelta(minutes=10))
    await _set(store, ids[2], call, due_at=NOW + timedelta(minutes=10))
    # ids[3]: personal follow-up for alice, due; ids[4]: for bob
    for cid, agent in ((ids[3], "alice"), (ids[4], "bob")):
        await _set(
            store,
            cid,
            call,
            status_detail=StatusDetail.FOLLOW_UP_PERSONAL.value,
            due_at=NOW - timedelta(minutes=1),
            follow_up_agent=agent,
        )
    got = await store.lease(camp.id, 10, "r", TTL, NOW, agent="alice")
    # alice's callback; fresh by priority desc (7, 4); retries by due time
    assert [c.id for c in got] == [ids[3], ids[5], ids[6], ids[0], ids[1]]
    await store.release_all("r")
    without_agent = await store.lease(camp.id, 10, "r", TTL, NOW)
    assert ids[3] not in [c.id for c in without_agent]
    assert ids[4] not in [c.id for c in without_agent]


async def test_campaign_filter_and_calling_hours_guard(store: Store) -> None:
    camp = await store.create_campaign(
        spec(filter=[{"field": "country", "op": "in", "value": ["DE", "AT"]}]), NOW
    )
    await store.add_contacts(
        camp.id,
        [
            NewContact(phone="+491", timezone="Europe/Berlin", fields={"country": "DE"}),
            NewContact(phone="+492", timezone="America/New_York", fields={"country": "AT"}),
            NewContact(phone="+493", timezone="Europe/Berlin", fields={"country": "FR"}),
            NewContact(phone="+494", fields={"country": "DE"}),
        ],
        NOW,
    )
    # 10:00 UTC = 11:00 Berlin (inside 08-21), 05:00 New York (outside)
    guard = lease_guard(
        await store.contact_timezones(camp.id), NOW, campaign_timezone="Europe/Berlin"
    )
    got = await store.lease(camp.id, 10, "r", TTL, NOW, guard=guard)
    assert sorted(c.phone or "" for c in got) == ["+491", "+494"]
    await store.release_all("r")
    nobody = LeaseGuard(frozenset(), allow_unknown_timezone=False)
    assert await store.lease(camp.id, 10, "r", TTL, NOW, guard=nobody) == []


async def test_only_call_tasks_and_open_contacts_are_leased(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    await store.add_contacts(camp.id, [NewContact(phone="+491")], NOW, task="done")
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+492")], NOW)
    call = (await store.tasks(camp.id))[0].id
    await _set(store, cid, call, status=Status.SUCCESS, status_detail="sale")
    assert await store.lease(camp.id, 10, "r", TTL, NOW) == []


async def test_lease_after_optimize(store: Store) -> None:
    """Planner statistics refreshed after a bulk load change nothing about what is leased."""
    camp = await store.create_campaign(spec(), NOW)
    ids = await store.add_contacts(camp.id, [NewContact(phone=f"+49{i}") for i in range(20)], NOW)
    await store.optimize()
    got = await store.lease(camp.id, 5, "r", TTL, NOW)
    assert [c.id for c in got] == ids[:5]


async def test_max_calls_per_day_holds_whatever_the_task_or_moves(store: Store) -> None:
    """Three calls to one person in 24 hours at most: a move back into the call task (which
    restarts the retry policy's attempts) does not give another call that day."""
    from dialerd.domain.enums import CallResult
    from dialerd.domain.model import Attempt
    from dialerd.domain.selection import ContactSelection

    camp = await store.create_campaign(spec(dial={"max_calls_per_day": 3}), NOW)
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+4930123456")], NOW)
    task = (await store.tasks(camp.id))[0]
    for i in range(3):
        at = NOW + timedelta(hours=i)
        [leased] = await store.lease(camp.id, 5, "r", timedelta(minutes=5), at)
        await store.start_attempt(
            Attempt(f"a{i}", camp.id, cid, task.id, "+4930123456", originated_at=at)
        )
        await store.record_attempt(
            Attempt(
                f"a{i}",
                camp.id,
                cid,
                task.id,
                "+4930123456",
                originated_at=at,
                hungup_at=at + timedelta(seconds=25),
                result=CallResult.NO_ANSWER,
            )
        )
        await store.release([leased.id], "r")
        await store.move(camp.id, ContactSelection(contact_ids=(cid,)), "call", "cli", at)
    late = NOW + timedelta(hours=3)
    assert await store.lease(camp.id, 5, "r", timedelta(minutes=5), late) == []
    # 24 hours after the first call, one call is free again
    assert (
        len(
            await store.lease(
                camp.id, 5, "r", timedelta(minutes=5), NOW + timedelta(hours=24, minutes=1)
            )
        )
        == 1
    )
