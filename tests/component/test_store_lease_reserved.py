"""Leasing respects agent reservations (issue 9): a held lead is dialed for its holder only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
