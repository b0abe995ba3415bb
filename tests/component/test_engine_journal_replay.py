"""The replay of the outcome journal (:mod:`dialerd.engine.journal`) against a real store
(SQLite and PostgreSQL): each outcome written once, a contact changed since the call keeps
its change, a line that cannot be applied is kept aside, never dropped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_engine_runner import make_spec

from dialerd.domain.changes import NewContact, Transition
from dialerd.domain.enums import CallResult, Status
from dialerd.domain.model import Attempt
from dialerd.engine.journal import JournalEntry, OutcomeJournal, journal_file
from dialerd.store import Store

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def _call_over(store: Store, phone: str, campaign_id: int) -> tuple[Transition, int]:
    """A contact whose call the store knows as started; the transition its outcome makes."""
    (cid,) = await store.add_contacts(campaign_id, [NewContact(phone=phone)], NOW)
    contact = await store.get_contact(cid)
    tasks = {t.name: t.id for t in await store.tasks(campaign_id)}
    started = Attempt(
        id=f"d{campaign_id}-{phone}",
        campaign_id=campaign_id,
        contact_id=cid,
        task_id=contact.task_id,
        phone=phone,
        server="sim1",
        originated_at=NOW,
    )
    await store.start_attempt(started)
    finished = replace(
        started,
        agent="a0",
        answered_at=NOW + timedelta(seconds=2),
        connected_at=NOW + timedelta(seconds=3),
        hungup_at=NOW + timedelta(seconds=23),
        result=CallResult.CONNECTED,
        disposition="sale",
    )
    at = NOW + timedelta(seconds=40)
    return (
        Transition(
            contact_id=cid,
            actor="agent:a0",
            at=at,
            task_id=contact.task_id,
            status=Status.SUCCESS,
            status_detail="sale",
            pending_task_id=tasks["won"],  # the campaign's rule, without delay
            pending_due_at=at,
            count_attempt=True,
            attempt=finished,
            expect_task_id=contact.task_id,
            expect_status=Status.OPEN,
        ),
        cid,
    )


async def test_a_replay_writes_each_outcome_once_and_keeps_what_it_cannot_apply(
    store: Store, tmp_path: Path
) -> None:
    camp = await store.create_campaign(make_spec(), NOW)
    applied, cid = await _call_over(store, "555010001", camp.id)
    changed, other = await _call_over(store, "555010002", camp.id)
    # the second contact is given a status by hand after its call, before the replay
    moved = await store.get_contact(other)
    await store.apply_transition(
        Transition(
            contact_id=other,
            actor="api:ops",
            at=NOW + timedelta(minutes=5),
            task_id=moved.task_id,
            status=Status.FAILED,
            status_detail="wrong_person",
        )
    )
    journal = OutcomeJournal(journal_file(tmp_path, store.url, "test-daemon"))
    assert journal.usable() is None
    journal.append([JournalEntry("camp", applied, NOW), JournalEntry("camp", changed, NOW)])
    with journal.path.open("a") as f:
        f.write('{"campaign": "camp", "transition": {"contact_id": 1\n')  # cut short by a crash

    done = await journal.replay(store, "test-daemon")
    assert dict(done.counts) == {"applied": 1, "stale": 1, "failed": 1}
    assert not journal.path.exists()
    assert done.kept is not None
    assert done.kept.read_text().startswith('{"campaign": "camp", "transition": {"contact_id": 1')

    contact = await store.get_contact(cid)
    tasks = {t.id: t.name for t in await store.tasks(camp.id)}
    assert (tasks[contact.task_id], contact.status) == ("won", Status.OPEN)  # entered "won"
    (attempt,) = await store.attempts(cid)
    assert (attempt.result, attempt.disposition, attempt.agent) == (
        CallResult.CONNECTED,
        "sale",
        "a0",
    )
    # the change by hand wins; the call is still recorded and counted
    kept = await store.get_contact(other)
    assert (kept.status, kept.status_detail, kept.attempts) == (
        Status.FAILED,
        "wrong_person",
        1,
    )
    (recorded,) = await store.attempts(other)
    assert (recorded.result, recorded.disposition) == (CallResult.CONNECTED, "sale")

    # replayed again (a crash before the file was removed): nothing is applied twice
    journal.append([JournalEntry("camp", applied, NOW), JournalEntry("camp", changed, NOW)])
    again = await journal.replay(store, "test-daemon")
    assert dict(again.counts) == {"already_stored": 2}
    assert await store.get_contact(cid) == contact
    history = [h for h in await store.history(cid) if h.actor == "agent:a0"]
    assert len(history) == 1
    assert (await store.get_contact(other)).attempts == 1


async def test_no_journal_file_is_nothing_to_replay(store: Store, tmp_path: Path) -> None:
    journal = OutcomeJournal(tmp_path / "none.jsonl")
    done = await journal.replay(store, "test-daemon")
    assert done.total == 0 and done.kept is None
    assert OutcomeJournal(tmp_path / "missing" / "j.jsonl").usable() is not None
