"""Manual operations and campaign changes on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact, Transition
from dialerd.domain.enums import Status
from dialerd.domain.selection import Condition, ContactSelection, SortOrder
from dialerd.store import InvalidChange, NotFound, QueueInUse, Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def spec(tasks: list[str], rules: list[dict[str, str]] | None = None) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "m",
            "tasks": [{"name": t, "type": "call" if t == "call" else "wait"} for t in tasks],
            "rules": rules or [],
        }
    )


async def test_bulk_edit_sets_and_removes_custom_fields(store: Store) -> None:
    camp = await store.create_campaign(spec(["call"]), NOW)
    await store.add_contacts(
        camp.id, [NewContact(phone=f"+49{i}", fields={"a": "1", "b": i}) for i in range(3)], NOW
    )
    n = await store.bulk_edit(
        camp.id,
        ContactSelection(conditions=(Condition("b", "ge", 1),)),
        "op",
        NOW,
        fields={"a": None, "c": "new", "first_name": "Eva"},
    )
    assert n.changed == 2
    got = await store.find_contacts(camp.id, order=SortOrder("b"))
    assert [c.fields for c in got] == [
        {"a": "1", "b": 0},
        {"b": 1, "c": "new"},
        {"b": 2, "c": "new"},
    ]
    assert [c.first_name for c in got] == [None, "Eva", "Eva"]
    with pytest.raises(InvalidChange, match="cannot be edited"):
        await store.bulk_edit(camp.id, ContactSelection(), "op", NOW, fields={"attempts": 3})
    # the command line's `dialerd edit` reaches the store directly: it checks the values too
    for fields, words in (
        ({"timezone": "Mars/X"}, "unknown time zone"),
        ({"email": "notanemail"}, "not an e-mail address"),
        ({"n": float("inf")}, "not a finite number"),
    ):
        with pytest.raises(InvalidChange, match=words):
            await store.bulk_edit(camp.id, ContactSelection(), "op", NOW, fields=fields)
    assert [c.timezone for c in await store.find_contacts(camp.id)] == [None] * 3


async def test_sort_by_custom_numeric_field_and_desc(store: Store) -> None:
    camp = await store.create_campaign(spec(["call"]), NOW)
    await store.add_contacts(
        camp.id, [NewContact(phone=f"+49{p}", fields={"p": p}) for p in (9, 10, 2)], NOW
    )
    up = await store.find_contacts(camp.id, order=SortOrder("p"))
    down = await store.find_contacts(camp.id, order=SortOrder("fields.p", descending=True))
    assert [c.fields["p"] for c in up] == [2, 9, 10]
    assert [c.fields["p"] for c in down] == [10, 9, 2]


async def test_update_campaign_keeps_contacts_and_guards_tasks(store: Store) -> None:
    camp = await store.create_campaign(spec(["call", "done", "old"]), NOW)
    [cid] = await store.add_contacts(camp.id, [NewContact(phone="+491")], NOW, task="old")
    with pytest.raises(InvalidChange, match="still holds 1 contact"):
        await store.update_campaign(spec(["call", "done"]), NOW)
    await store.move(camp.id, ContactSelection(task="old"), "done", "op", NOW)
    rules = [{"from": "call", "status": "success", "to": "done"}]
    updated = await store.update_campaign(spec(["call", "done", "new"], rules), NOW)
    assert updated.id == camp.id
    assert [t.name for t in await store.tasks(camp.id)] == ["call", "done", "new"]
    assert len(await store.rules(camp.id)) == 1
    contact = await store.get_contact(cid)
    names = {t.id: t.name for t in await store.tasks(camp.id)}
    assert names[contact.task_id] == "done"


async def test_promote_due_in_batches(store: Store) -> None:
    camp = await store.create_campaign(spec(["call", "later"]), NOW)
    ids = {t.name: t.id for t in await store.tasks(camp.id)}
    contacts = await store.add_contacts(
        camp.id, [NewContact(phone=f"+49{i}") for i in range(7)], NOW
    )
    for i, cid in enumerate(contacts):
        await store.apply_transition(
            Transition(
                contact_id=cid,
                actor="t",
                at=NOW,
                task_id=ids["call"],
                status=Status.DECLINED,
                status_detail="x",
                pending_task_id=ids["later"],
                pending_due_at=NOW + timedelta(minutes=i + 1),
            )
        )
    late = NOW + timedelta(hours=1)
    first = await store.promote_due(late, limit=4)
    second = await store.promote_due(late, limit=4)
    assert first == contacts[:4] and second == contacts[4:]
    assert await store.promote_due(late) == []
    assert await store.count_contacts(camp.id, ContactSelection(task="later")) == 7


async def test_delayed_move_waits_visibly_then_enters(store: Store) -> None:
    camp = await store.create_campaign(spec(["call", "recall"]), NOW)
    ids = await store.add_contacts(camp.id, [NewContact(phone=f"+49{i}") for i in range(3)], NOW)
    at = NOW + timedelta(days=2)
    sel = ContactSelection(contact_ids=tuple(ids[:2]))
    assert (await store.move(camp.id, sel, "recall", "op", NOW, enter_at=at)).changed == 2
    rows = {(r.task, r.waiting_for): r for r in await store.overview(camp.id)}
    assert rows[("call", "recall")].count == 2
    assert rows[("call", "recall")].next_due == at
    assert rows[("call", None)].count == 1 and rows[("call", None)].next_due is None
    # waiting contacts are not dialed in their old task meanwhile
    leased = await store.lease(camp.id, 10, "r", timedelta(minutes=1), NOW)
    assert [c.id for c in leased] == [ids[2]]
    assert await store.promote_due(at) == ids[:2]
    assert await store.count_contacts(camp.id, ContactSelection(task="recall")) == 2


async def test_agents_are_kept_with_their_state(store: Store) -> None:
    from dialerd.domain.enums import AgentState
    from dialerd.domain.model import Agent

    await store.upsert_agent(Agent("alice", "PJSIP/alice", campaigns=("m",)), NOW)
    await store.upsert_agent(Agent("alice", "PJSIP/alice2", skills=("de",)), NOW)
    await store.set_agent_state("alice", AgentState.READY, NOW)
    [alice] = await store.agents()
    assert (alice.interface, alice.skills, alice.state) == (
        "PJSIP/alice2",
        ("de",),
        AgentState.READY,
    )
    with pytest.raises(NotFound, match="no agent"):
        await store.set_agent_state("bob", AgentState.READY, NOW)


async def test_lease_follows_a_changed_definition(store: Store) -> None:
    def sorted_spec(direction: str) -> CampaignSpec:
        return CampaignSpec.model_validate(
            {
                "name": "m",
                "tasks": [{"name": "call", "type": "call"}],
                "sort": {"field": "p", "direction": direction},
            }
        )

    camp = await store.create_campaign(sorted_spec("asc"), NOW)
    await store.add_contacts(
        camp.id, [NewContact(phone=f"+49{p}", fields={"p": p}) for p in (2, 1, 3)], NOW
    )
    ttl = timedelta(minutes=1)
    assert [c.fields["p"] for c in await store.lease(camp.id, 1, "r", ttl, NOW)] == [1]
    await store.release_all("r")
    await store.update_campaign(sorted_spec("desc"), NOW)
    assert [c.fields["p"] for c in await store.lease(camp.id, 1, "r", ttl, NOW)] == [3]


async def test_one_asterisk_queue_per_campaign(store: Store) -> None:
    def queued(name: str, queue: str | None) -> CampaignSpec:
        data: dict[str, object] = {"name": name, "tasks": [{"name": "call", "type": "call"}]}
        if queue is not None:
            data["queue"] = queue
        return CampaignSpec.model_validate(data)

    await store.create_campaign(queued("a", "survey"), NOW)
    await store.create_campaign(queued("b", None), NOW)  # queue "dialerd-b"
    refused = [
        (queued("c", "survey"), "is already the queue of campaign 'a'"),
        (queued("c", "dialerd-b"), "is already the queue of campaign 'b'"),
        # an agent's own queue of campaign a is "survey.<agent>"
        (queued("c", "survey.dora"), "clashes with queue 'survey' of campaign 'a'"),
    ]
    for spec_, words in refused:
        with pytest.raises(QueueInUse, match=words) as err:
            await store.create_campaign(spec_, NOW)
        assert isinstance(err.value, InvalidChange)
    with pytest.raises(QueueInUse, match="campaign 'a'"):
        await store.update_campaign(queued("b", "survey"), NOW)
    await store.update_campaign(queued("a", "survey"), NOW)  # its own queue: fine
    await store.create_campaign(queued("c", "survey-2"), NOW)
    assert sorted(c.name for c in await store.list_campaigns()) == ["a", "b", "c"]
