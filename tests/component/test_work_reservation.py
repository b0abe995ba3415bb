"""Lead reservation: two agents at once, one wins, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dialerd.domain import campaign_spec as cs
from dialerd.domain.agentwork import LeadNote, LeadState, ResultClass
from dialerd.domain.changes import NewContact, Transition
from dialerd.domain.enums import Status
from dialerd.domain.model import Contact
from dialerd.domain.selection import ContactSelection
from dialerd.store import Store
from dialerd.store import agentwork as work
from dialerd.taskflow.leads import close_transition

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def _campaign(store: Store, n: int) -> tuple[int, list[int]]:
    spec = cs.CampaignSpec.model_validate(
        {"name": "sales", "tasks": [{"name": "call", "type": "call"}]}
    )
    camp = await store.create_campaign(spec, NOW)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone=f"+4930123456{i:02d}") for i in range(n)], NOW
    )
    return camp.id, ids


async def _attempt(coro: object) -> str:
    try:
        lead = await coro  # type: ignore[misc]
    except work.LeadHeld as exc:
        return f"held:{exc.holder}"
    return f"won:{lead.holder if hasattr(lead, 'holder') else lead.agent}"


async def test_two_agents_reserving_at_once_one_wins(store_url: str, store: Store) -> None:
    _, ids = await _campaign(store, 6)
    # Two stores = two connection pools, as two API workers or two daemons would have.
    other = await Store.open(store_url)
    try:
        for contact_id in ids:
            results = await asyncio.gather(
                _attempt(work.reserve(store, contact_id, "anna", NOW)),
                _attempt(work.reserve(other, contact_id, "ben", NOW)),
            )
            winners = [r for r in results if r.startswith("won:")]
            assert len(winners) == 1, results
            winner = winners[0].removeprefix("won:")
            loser = [r for r in results if r.startswith("held:")]
            assert loser == [f"held:{winner}"]
            lead = await work.get_lead(store, contact_id)
            assert lead.holder == winner
            assert lead.state is LeadState.IN_PROGRESS
    finally:
        await other.close()


async def test_first_note_holds_the_lead_against_a_concurrent_note(
    store_url: str, store: Store
) -> None:
    _, ids = await _campaign(store, 4)
    other = await Store.open(store_url)
    try:
        for contact_id in ids:
            results = await asyncio.gather(
                _attempt(work.add_note(store, contact_id, "anna", NOW, text="rang, no answer")),
                _attempt(work.add_note(other, contact_id, "ben", NOW, text="spoke briefly")),
            )
            assert sorted(r.split(":")[0] for r in results) == ["held", "won"], results
            notes = await work.lead_notes(store, contact_id)
            assert len(notes) == 1
            assert (await work.get_lead(store, contact_id)).holder == notes[0].agent
    finally:
        await other.close()


async def test_release_by_holder_or_supervisor_only(store: Store) -> None:
    _, (c1, c2) = await _campaign(store, 2)
    await work.reserve(store, c1, "anna", NOW)
    with pytest.raises(work.LeadHeld, match="held by anna"):
        await work.reserve(store, c1, "ben", NOW)
    with pytest.raises(work.LeadHeld):
        await work.release(store, c1, "ben")
    assert (await work.release(store, c1, "anna")).holder is None
    assert (await work.reserve(store, c1, "ben", NOW)).holder == "ben"
    assert (await work.release(store, c1, None)).holder is None  # a supervisor
    # Closing is a note: the lead is closed, released, and nobody takes it any more.
    note = await work.add_note(
        store,
        c2,
        "anna",
        NOW,
        text="Vertrag unterschrieben",
        close=True,
        result_class=ResultClass.POSITIVE,
    )
    assert note.closes
    lead = await work.get_lead(store, c2)
    assert (lead.state, lead.closed, lead.holder) == (LeadState.CLOSED, True, None)
    assert lead.last_note is not None and lead.last_note.text == "Vertrag unterschrieben"
    with pytest.raises(work.LeadClosed):
        await work.reserve(store, c2, "ben", NOW)


async def test_closing_a_lead_finishes_its_contact_so_it_is_never_dialed_again(
    store: Store,
) -> None:
    """A lead closed with a sale must not go back to the dialer's pool (nor stay open work)."""
    spec = cs.CampaignSpec.model_validate(
        {
            "name": "sales",
            "tasks": [{"name": "call", "type": "call"}, {"name": "won", "type": "wait"}],
            "rules": [{"from": "call", "status": "success", "to": "won", "delay": "1h"}],
        }
    )
    camp = await store.create_campaign(spec, NOW)
    sale, nope, maybe = await store.add_contacts(
        camp.id, [NewContact(phone=f"+493012345{i:02d}") for i in range(3)], NOW
    )
    tasks = await store.tasks(camp.id)
    rules = await store.rules(camp.id)

    def finish(contact: Contact, note: LeadNote) -> Transition | None:
        return close_transition(
            contact, note, tasks=tasks, rules=rules, now=NOW, actor="agent:anna"
        )

    for cid, text, result_class, label in (
        (sale, "Vertrag unterschrieben", ResultClass.POSITIVE, "sale"),
        (nope, "kein Interesse", ResultClass.NEGATIVE, None),
        (maybe, "meldet sich vielleicht", ResultClass.PARTIAL, None),
    ):
        await work.add_note(
            store,
            cid,
            "anna",
            NOW,
            text=text,
            result_class=result_class,
            result_label=label,
            close=True,
            finish=finish,
        )
    got = {c.id: c for c in await store.find_contacts(camp.id)}
    assert (got[sale].status, got[sale].status_detail) == (Status.SUCCESS, "sale")
    assert got[sale].pending_task_id == tasks[1].id  # the taskflow rule moves it on to "won"
    assert (got[nope].status, got[nope].status_detail) == (Status.DECLINED, "lead_closed")
    assert (got[maybe].status, got[maybe].status_detail) == (Status.FAILED, "lead_closed")
    (entry,) = await store.history(sale)
    assert (entry.actor, entry.to_status, entry.to_detail) == ("agent:anna", Status.SUCCESS, "sale")
    assert entry.note == "lead closed: Vertrag unterschrieben"
    # nobody dials them: neither the pool nor the agent who had them
    assert await store.lease(camp.id, 10, "dialer", timedelta(minutes=5), NOW) == []
    assert await work.next_lead(store, camp.id, "anna", NOW) is None
    # a note that does not close changes nothing; a lead whose contact is finished already
    # closes without touching it
    other, done = await store.add_contacts(
        camp.id, [NewContact(phone="+4930999"), NewContact(phone="+4930998")], NOW
    )
    await work.add_note(store, other, "anna", NOW, text="busy, later", finish=finish)
    assert (await store.get_contact(other)).status is Status.OPEN
    sel = ContactSelection(contact_ids=(done,))
    await store.bulk_edit(camp.id, sel, "op", NOW, status=Status.DECLINED, status_detail="x")
    await work.add_note(
        store,
        done,
        "anna",
        NOW,
        text="sold",
        result_class=ResultClass.POSITIVE,
        close=True,
        finish=finish,
    )
    finished = await store.get_contact(done)
    assert (finished.status, finished.status_detail) == (Status.DECLINED, "x")
    assert (await work.get_lead(store, done)).closed
