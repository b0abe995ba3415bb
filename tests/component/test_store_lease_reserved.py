"""Leasing respects agent reservations (issue 9): a held lead is dialed for its holder only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.store import Store
from dialerd.store import agentwork as work

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


def spec() -> CampaignSpec:
    return CampaignSpec.model_validate(
        {"name": "c", "tasks": [{"name": "call", "type": "call"}, {"name": "done", "type": "wait"}]}
    )


async def test_a_held_lead_is_leased_only_for_its_holder(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    held, free = await store.add_contacts(
        camp.id, [NewContact(phone="+493000001"), NewContact(phone="+493000002")], NOW
    )
    await work.reserve(store, held, "anna", NOW)

    pool = await store.lease(camp.id, 10, "r", TTL, NOW)
    assert [c.id for c in pool] == [free]
    await store.release([free], "r")

    for_ben = await store.lease(camp.id, 10, "r", TTL, NOW, agent="ben")
    assert [c.id for c in for_ben] == [free]
    await store.release([free], "r")

    for_anna = await store.lease(camp.id, 10, "r", TTL, NOW, agent="anna")
    assert sorted(c.id for c in for_anna) == sorted([held, free])


async def test_a_released_lead_returns_to_the_pool(store: Store) -> None:
    camp = await store.create_campaign(spec(), NOW)
    (held,) = await store.add_contacts(camp.id, [NewContact(phone="+493000001")], NOW)
    await work.reserve(store, held, "anna", NOW)
    assert await store.lease(camp.id, 10, "r", TTL, NOW) == []
    await work.release(store, held, None)
    assert [c.id for c in await store.lease(camp.id, 10, "r", TTL, NOW)] == [held]


async def test_a_leased_lead_cannot_be_reserved_until_the_lease_ends(store: Store) -> None:
    """While the dialer has the contact leased (a call in progress, a preview on offer) a hold
    would not stop the dialer from calling it for somebody else: reserve refuses."""
    camp = await store.create_campaign(spec(), NOW)
    (cid,) = await store.add_contacts(camp.id, [NewContact(phone="+493000001")], NOW)
    assert [c.id for c in await store.lease(camp.id, 1, "dialer", TTL, NOW)] == [cid]
    with pytest.raises(work.LeadBusy):
        await work.reserve(store, cid, "anna", NOW)
    assert (await work.get_lead(store, cid)).holder is None
    # the lease's own holder (the engine, for the agent it offered the contact to) may
    held = await work.reserve(store, cid, "anna", NOW, own_lease="dialer")
    assert held.holder == "anna"
    await work.release(store, cid, None)
    # an expired lease no longer counts, nor does a released one
    assert (await work.reserve(store, cid, "ben", NOW + TTL)).holder == "ben"
    await work.release(store, cid, None)
    await store.release([cid], "dialer")
    assert (await work.reserve(store, cid, "ben", NOW)).holder == "ben"
