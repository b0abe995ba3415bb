"""Leasing on SQLite and PostgreSQL: atomic under concurrency, expiry, order, filters, guard."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import LeaseGuard, NewContact, Transition
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Campaign
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


async def _call(store: Store, camp: int, cid: int, phone: str, at: datetime, aid: str) -> None:
    """One finished call (30 s, no answer) of a contact at ``at``."""
    from dialerd.domain.enums import CallResult
    from dialerd.domain.model import Attempt

    task = (await store.tasks(camp))[0]
    attempt = Attempt(aid, camp, cid, task.id, phone, originated_at=at)
    await store.start_attempt(attempt)
    await store.record_attempt(
        dataclasses.replace(
            attempt, hungup_at=at + timedelta(seconds=30), result=CallResult.NO_ANSWER
        )
    )


async def test_the_calls_per_day_cap_counts_the_number_across_campaigns_and_records(
    store: Store,
) -> None:
    """Laws count calls to a person's number: two calls in campaign A use up a cap of 2 for
    campaign B and for a second record of the number in A, until 24 h after the first call."""
    phone = "+4930123456"
    a = await store.create_campaign(spec("a", dial={"max_calls_per_day": 2}), NOW)
    b = await store.create_campaign(spec("b", dial={"max_calls_per_day": 2}), NOW)
    [in_a] = await store.add_contacts(a.id, [NewContact(phone=phone)], NOW)
    [in_b] = await store.add_contacts(b.id, [NewContact(phone=phone)], NOW)
    [other] = await store.add_contacts(b.id, [NewContact(phone="+4930999999")], NOW)
    await _call(store, a.id, in_a, phone, NOW, "a1")
    await _call(store, a.id, in_a, phone, NOW + timedelta(hours=1), "a2")
    # re-imported as a new contact record of campaign A
    [again] = await store.add_contacts(a.id, [NewContact(phone=phone)], NOW)

    async def leased(camp: int, at: datetime) -> list[int]:
        got = await store.lease(camp, 10, "r", TTL, at)
        await store.release([c.id for c in got], "r")
        return [c.id for c in got]

    assert await leased(b.id, NOW + timedelta(hours=2)) == [other]
    assert await leased(a.id, NOW + timedelta(hours=2)) == []
    assert await leased(b.id, NOW + timedelta(hours=23, minutes=59)) == [other]
    # 24 hours after the first call one call is free again, in either campaign, and for one
    # record of the number only (both records in one lease were a third call within a cap of 2)
    later = NOW + timedelta(hours=24, minutes=1)
    assert await leased(b.id, later) == [in_b, other]
    assert await leased(a.id, later) in ([in_a], [again])


async def test_the_daemon_cap_holds_a_campaign_without_one_and_the_lower_cap_wins(
    store: Store,
) -> None:
    phone = "+4930123456"
    own = await store.create_campaign(spec("own", dial={"max_calls_per_day": 1}), NOW)
    plain = await store.create_campaign(spec("plain"), NOW)
    [cid] = await store.add_contacts(own.id, [NewContact(phone=phone)], NOW)
    [pid] = await store.add_contacts(plain.id, [NewContact(phone=phone)], NOW)
    await _call(store, plain.id, pid, phone, NOW, "p1")
    later = NOW + timedelta(hours=1)
    assert [c.id for c in await store.lease(plain.id, 5, "r", TTL, later)] == [pid]
    await store.release([pid], "r")
    assert await store.lease(plain.id, 5, "r", TTL, later, max_calls_per_day=1) == []
    # the campaign's own 1 holds against a laxer argument (the engine passes the daemon's)
    assert await store.lease(own.id, 5, "r", TTL, later, max_calls_per_day=3) == []
    free = NOW + timedelta(hours=24, minutes=1)
    assert [c.id for c in await store.lease(own.id, 5, "r", TTL, free)] == [cid]


async def _one_number_in_two_campaigns(
    store: Store, phone: str
) -> tuple[Campaign, Campaign, int, int, int]:
    """Campaigns a and b with a contact of ``phone`` each; (a, b, a's contact id, b's, a's
    first task id)."""
    a = await store.create_campaign(spec("a"), NOW)
    b = await store.create_campaign(spec("b"), NOW)
    [in_a] = await store.add_contacts(a.id, [NewContact(phone=phone)], NOW)
    [in_b] = await store.add_contacts(b.id, [NewContact(phone=phone)], NOW)
    task = (await store.tasks(a.id))[0]
    return a, b, in_a, in_b, task.id


async def test_a_number_being_called_in_one_campaign_is_not_leased_in_another(
    store: Store,
) -> None:
    from dialerd.domain.enums import CallResult
    from dialerd.domain.model import Attempt

    phone = "+4930123456"
    a, b, in_a, in_b, task_id = await _one_number_in_two_campaigns(store, phone)
    [leased] = await store.lease(a.id, 5, "runner-a", TTL, NOW)
    assert leased.id == in_a
    ringing = Attempt("a1", a.id, in_a, task_id, phone, originated_at=NOW)
    await store.start_attempt(ringing)
    assert await store.lease(b.id, 5, "runner-b", TTL, NOW + timedelta(seconds=20)) == []
    hung_up = NOW + timedelta(seconds=40)
    await store.record_attempt(
        dataclasses.replace(ringing, hungup_at=hung_up, result=CallResult.NO_ANSWER)
    )
    await store.release([in_a], "runner-a")  # the call's outcome gives its lease back
    assert [c.id for c in await store.lease(b.id, 5, "runner-b", TTL, hung_up)] == [in_b]


async def test_an_attempt_left_open_by_a_crash_holds_its_number_a_day_at_most(
    store: Store,
) -> None:
    from dialerd.domain.model import Attempt

    phone = "+4930123456"
    a, b, in_a, in_b, task_id = await _one_number_in_two_campaigns(store, phone)
    await store.start_attempt(Attempt("a1", a.id, in_a, task_id, phone, originated_at=NOW))
    assert await store.lease(b.id, 5, "r", TTL, NOW + timedelta(hours=23)) == []
    got = await store.lease(b.id, 5, "r", TTL, NOW + timedelta(hours=24, seconds=1))
    assert [c.id for c in got] == [in_b]


async def test_a_number_leased_in_one_campaign_is_not_leased_in_another_before_its_call(
    store: Store,
) -> None:
    """The attempt is written only when the Originate leaves; until then (a preview on offer
    to an agent, which can last minutes, or the moment between a lease and its dial) the
    lease is all that says the number is taken. Another campaign leasing the number then
    dialed it while the agent was still looking at it."""
    phone = "+4930123456"
    a, b, in_a, in_b, _ = await _one_number_in_two_campaigns(store, phone)
    [on_offer] = await store.lease(a.id, 1, "runner-a", TTL, NOW)
    assert on_offer.id == in_a
    assert await store.lease(b.id, 5, "runner-b", TTL, NOW + timedelta(seconds=30)) == []
    # given back (the agent skipped it, the offer was withdrawn): free for b
    await store.release([in_a], "runner-a")
    [got] = await store.lease(b.id, 5, "runner-b", TTL, NOW + timedelta(seconds=31))
    assert got.id == in_b
    # and an expired lease (its daemon died) stops counting, as for the contact itself
    assert await store.lease(a.id, 5, "runner-a", TTL, NOW + timedelta(seconds=32)) == []
    [late] = await store.lease(a.id, 5, "runner-a", TTL, NOW + timedelta(seconds=31) + TTL)
    assert late.id == in_a


async def test_one_lease_takes_one_record_of_a_number(store: Store) -> None:
    """Two records of one number (imported twice, or in two call tasks) in one batch were
    both leased and dialed at once, and the daily cap counted the calls stored before the
    batch only: with 2 of 3 calls made, both records passed and the number got 4 calls."""
    phone = "+4930123456"
    camp = await store.create_campaign(spec(dial={"max_calls_per_day": 3}), NOW)
    [first] = await store.add_contacts(camp.id, [NewContact(phone=phone)], NOW)
    [other] = await store.add_contacts(camp.id, [NewContact(phone="+4930999999")], NOW)
    await store.add_contacts(camp.id, [NewContact(phone=phone)], NOW)
    await _call(store, camp.id, first, phone, NOW - timedelta(hours=2), "c1")
    await _call(store, camp.id, first, phone, NOW - timedelta(hours=1), "c2")
    got = await store.lease(camp.id, 10, "r", TTL, NOW)
    assert [c.phone for c in got].count(phone) == 1, [c.id for c in got]
    assert other in [c.id for c in got]
    await store.release([c.id for c in got], "r")
    # without a cap too: one person is never dialed twice at once
    plain = await store.create_campaign(spec("plain"), NOW)
    await store.add_contacts(
        plain.id, [NewContact(phone=p) for p in ("+4940111", "+4940222", "+4940111")], NOW
    )
    got = await store.lease(plain.id, 10, "r", TTL, NOW)
    assert sorted(c.phone for c in got) == ["+4940111", "+4940222"]
    # the other record waits for the next lease after the first one's call
    assert await store.lease(plain.id, 10, "r", TTL, NOW) == []
    await store.release([c.id for c in got], "r")
    assert len(await store.lease(plain.id, 10, "r", TTL, NOW)) == 2


async def test_two_campaigns_leasing_one_number_at_the_same_moment_never_both_get_it(
    store: Store, store_url: str, backend: str
) -> None:
    """Two daemons (or two runners) lease the same number for two campaigns at once. On
    PostgreSQL each lease's check reads before the other one's lease is committed (READ
    COMMITTED), so both passed; SQLite's ``BEGIN IMMEDIATE`` runs one after the other."""
    a = await store.create_campaign(spec("a"), NOW)
    b = await store.create_campaign(spec("b"), NOW)
    first, second = await Store.open(store_url), await Store.open(store_url)
    rounds = 200 if backend == "postgres" else 40
    both: list[str] = []
    try:
        for i in range(rounds):
            phone = f"+4930{i:06}"
            await store.add_contacts(a.id, [NewContact(phone=phone)], NOW)
            await store.add_contacts(b.id, [NewContact(phone=phone)], NOW)
            got_a, got_b = await asyncio.gather(
                first.lease(a.id, 5, "daemon-1", TTL, NOW),
                second.lease(b.id, 5, "daemon-2", TTL, NOW),
            )
            assert len(got_a) + len(got_b) >= 1, "neither lease took the number"
            if got_a and got_b:
                both.append(phone)
    finally:
        await first.close()
        await second.close()
    assert both == [], f"{len(both)} of {rounds} numbers leased by both campaigns at once"
