"""Work queue order (never contacted, due follow-ups, campaign sort) and the lead-state filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from dialerd.domain import campaign_spec as cs
from dialerd.domain.agentwork import LeadState
from dialerd.domain.changes import NewContact
from dialerd.domain.selection import ContactSelection
from dialerd.store import Store
from dialerd.store import agentwork as work
from dialerd.store.models import ContactRow

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_queue_order_and_state_filter(store: Store) -> None:
    spec = cs.CampaignSpec.model_validate(
        {
            "name": "sales",
            "tasks": [{"name": "call", "type": "call"}],
            "sort": {"field": "last_name", "direction": "asc"},
        }
    )
    camp = await store.create_campaign(spec, NOW)
    names = ["Zeller", "Adler", "Meier", "Bauer", "Huber", "Kraus"]
    ids = dict(
        zip(
            names,
            await store.add_contacts(
                camp.id,
                [NewContact(phone=f"+49301234560{i}", last_name=n) for i, n in enumerate(names)],
                NOW,
            ),
            strict=True,
        )
    )
    # Meier and Bauer were tried and are due again (Bauer due earlier); Huber was tried and is
    # due only tomorrow; Zeller, Adler and Kraus were never contacted.
    async with store.write() as s:
        for name, due in [
            ("Meier", NOW - timedelta(minutes=5)),
            ("Bauer", NOW - timedelta(hours=1)),
            ("Huber", NOW + timedelta(days=1)),
        ]:
            await s.execute(
                update(ContactRow)
                .where(ContactRow.id == ids[name])
                .values(attempts=1, due_at=due, status_detail="$follow_up_auto")
            )
    queue = await work.work_queue(store, camp.id, NOW)
    assert [x.contact.last_name for x in queue] == [
        "Adler",
        "Kraus",
        "Zeller",
        "Bauer",
        "Meier",
        "Huber",
    ]
    assert all(x.state is LeadState.NONE for x in queue)

    await work.reserve(store, ids["Adler"], "anna", NOW)
    await work.add_note(store, ids["Kraus"], "ben", NOW, text="kein Interesse", close=True)
    by_state = {
        st: [x.contact.last_name for x in await work.work_queue(store, camp.id, NOW, state=st)]
        for st in LeadState
    }
    assert by_state == {
        LeadState.NONE: ["Zeller", "Bauer", "Meier", "Huber"],
        LeadState.IN_PROGRESS: ["Adler"],
        LeadState.CLOSED: ["Kraus"],
    }
    # The next lead skips what another agent holds and what is closed.
    nxt = await work.next_lead(store, camp.id, "ben", NOW)
    assert nxt is not None and nxt.contact.last_name == "Zeller"
    mine = await work.next_lead(store, camp.id, "anna", NOW)
    assert mine is not None and mine.contact.last_name == "Adler"
    held = (await work.work_queue(store, camp.id, NOW, state=LeadState.IN_PROGRESS))[0]
    assert held.holder == "anna"


async def test_only_contacts_open_in_a_call_task_are_offered(store: Store) -> None:
    """A contact that went on to a wait task after a sale entered it with attempts 0: it must
    not be offered (nor ranked) as a never contacted lead."""
    spec = cs.CampaignSpec.model_validate(
        {
            "name": "sales",
            "tasks": [{"name": "call", "type": "call"}, {"name": "success", "type": "wait"}],
            "sort": {"field": "last_name", "direction": "asc"},
        }
    )
    camp = await store.create_campaign(spec, NOW)
    sold, tried, fresh = await store.add_contacts(
        camp.id,
        [
            NewContact(phone="+493012345601", last_name="Adler"),
            NewContact(phone="+493012345602", last_name="Bauer"),
            NewContact(phone="+493012345603", last_name="Zeller"),
        ],
        NOW,
    )
    # Adler bought and now sits in the wait task "success" (attempts restarted at 0 there);
    # Bauer was tried once and is due again.
    await store.move(camp.id, ContactSelection(contact_ids=(sold,)), "success", "test", NOW)
    async with store.write() as s:
        await s.execute(
            update(ContactRow)
            .where(ContactRow.id == tried)
            .values(attempts=1, due_at=NOW - timedelta(minutes=1))
        )
    nxt = await work.next_lead(store, camp.id, "anna", NOW)
    assert nxt is not None and nxt.contact.id == fresh
    offered = await work.work_queue(store, camp.id, NOW, available_for="anna")
    assert [x.contact.id for x in offered] == [fresh, tried]
    # The full list still shows the sold contact, after the work still to do.
    assert [x.contact.id for x in await work.work_queue(store, camp.id, NOW)] == [
        fresh,
        tried,
        sold,
    ]
