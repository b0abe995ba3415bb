"""The replay of the outcome journal (:mod:`dialerd.engine.journal`) against a real store
(SQLite and PostgreSQL): each outcome written once, a contact changed since the call keeps
its change, a line that cannot be applied is kept aside, never dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_engine_runner import make_spec

from dialerd.domain.changes import NewContact, Transition
from dialerd.domain.enums import CallResult, Status
from dialerd.domain.model import Attempt
from dialerd.engine.journal import (
    JournalEntry,
    OutcomeJournal,
    Replayed,
    finished_event,
    journal_file,
)
from dialerd.store import Store
from dialerd.store.lookup import delete_contact

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def _call_over(store: Store, phone: str, campaign_id: int) -> tuple[Transition, int]:
    """A contact whose call the store knows as started; the transition its outcome makes."""
    (cid,) = await store.add_contacts(campaign_id, [NewContact(phone=phone)], NOW)
    contact = await store.get_contact(cid)
    return await _connected(store, campaign_id, cid, phone, contact.task_id), cid


async def _connected(
    store: Store, campaign_id: int, cid: int, phone: str, task_id: int, **guards: Any
) -> Transition:
    """The call of contact ``cid`` (in task ``task_id``, open) started in the store; the
    transition of its outcome: connected, a sale, the campaign's rule to "won" without
    delay, with the taskflow's guards (``guards`` adds to them)."""
    tasks = {t.name: t.id for t in await store.tasks(campaign_id)}
    started = Attempt(
        id=f"d{campaign_id}-{phone}",
        campaign_id=campaign_id,
        contact_id=cid,
        task_id=task_id,
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
    return Transition(
        contact_id=cid,
        actor="agent:a0",
        at=at,
        task_id=task_id,
        status=Status.SUCCESS,
        status_detail="sale",
        pending_task_id=tasks["won"],  # the campaign's rule, without delay
        pending_due_at=at,
        count_attempt=True,
        attempt=finished,
        expect_task_id=task_id,
        expect_status=Status.OPEN,
        **guards,
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


class Crash(BaseException):
    """The process killed here (SIGKILL, a power loss): nothing after it runs, no ``except
    Exception`` takes it."""


def _crash_after_commits(monkeypatch: pytest.MonkeyPatch, commits: int) -> None:
    """Every write transaction of the store counts once committed; the ``commits``-th is
    followed by the crash (what it wrote stays, nothing after it happens)."""
    done = 0

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        @asynccontextmanager
        async def wrapped(self: Store, *args: Any, **kw: Any) -> AsyncIterator[Any]:
            nonlocal done
            async with real(self, *args, **kw) as inner:
                yield inner
            if kw.get("read"):
                return
            done += 1
            if done == commits:
                raise Crash(f"killed after commit {done}")

        return wrapped

    monkeypatch.setattr(Store, "write", counting(Store.write))
    monkeypatch.setattr(Store, "_core", counting(Store._core))


async def _three_outcomes(
    store: Store, tmp_path: Path, tag: str
) -> tuple[OutcomeJournal, dict[str, int]]:
    """One campaign, three calls answered live and journaled at a stop: one whose contact was
    deleted since, one written as it is, one whose contact was given a status by hand."""
    camp = await store.create_campaign(make_spec(f"c{tag}", queue=f"q-c{tag}"), NOW)
    deleted_t, deleted = await _call_over(store, f"55502{tag}01", camp.id)
    applied_t, applied = await _call_over(store, f"55502{tag}02", camp.id)
    changed_t, changed = await _call_over(store, f"55502{tag}03", camp.id)
    await delete_contact(store, deleted, NOW + timedelta(minutes=5))
    before = await store.get_contact(changed)
    await store.apply_transition(
        Transition(
            contact_id=changed,
            actor="api:ops",
            at=NOW + timedelta(minutes=5),
            task_id=before.task_id,
            status=Status.FAILED,
            status_detail="wrong_person",
        )
    )
    journal = OutcomeJournal(tmp_path / f"j{tag}" / "unwritten-test-x.jsonl")
    journal.path.parent.mkdir()
    journal.append([JournalEntry(f"c{tag}", t, NOW) for t in (deleted_t, applied_t, changed_t)])
    return journal, {"campaign": camp.id, "applied": applied, "changed": changed}


async def _exactly_once(store: Store, ids: dict[str, int]) -> None:
    """What the three outcomes leave in the store, whatever the replays and crashes."""
    # three live answers, each counted once (the deleted contact's too), none abandoned
    count = await store.abandonment(ids["campaign"], NOW - timedelta(hours=1))
    assert (count.live_answers, count.abandoned) == (3, 0)
    applied = await store.get_contact(ids["applied"])
    assert applied.attempts == 0  # entered "won" (a new task: attempts restart)
    assert len([h for h in await store.history(ids["applied"]) if h.actor == "agent:a0"]) == 1
    assert len(await store.attempts(ids["applied"])) == 1
    changed = await store.get_contact(ids["changed"])
    assert (changed.status, changed.status_detail, changed.attempts) == (
        Status.FAILED,
        "wrong_person",
        1,
    )
    assert len(await store.attempts(ids["changed"])) == 1


async def _next_start(store: Store, journal: OutcomeJournal) -> Replayed | None:
    """What the engine's start does with the journal (``Engine._replay_journal``)."""
    journal = OutcomeJournal(journal.path)
    if not journal.path.is_file():
        await journal.forget(store)
        return None
    return await journal.replay(store, "test-daemon")


@pytest.mark.parametrize("commits", [1, 2, 3, 4, 5])
async def test_a_replay_killed_after_any_write_applies_nothing_twice(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commits: int
) -> None:
    """Killed after the ``commits``-th write transaction of the replay (what it wrote stays,
    nothing after it runs), the next start writes the rest and nothing twice. Before, the
    live answer of a contact deleted since the call was counted again by every replay (its
    attempt went with the contact, so nothing showed it had been written): the abandonment
    rate's denominator grew with each cut replay."""
    journal, ids = await _three_outcomes(store, tmp_path, str(commits))
    with monkeypatch.context() as m:
        _crash_after_commits(m, commits)
        with suppress(Crash):
            await journal.replay(store, "test-daemon")
    again = await _next_start(store, journal)
    if again is not None:
        assert again.counts["failed"] == 0
        assert sum(again.counts.values()) == 3
        # a "call finished" event for each call the killed replay did not write
        assert len(again.written) == 3 - again.counts["already_stored"]
    assert not journal.path.exists()
    await _exactly_once(store, ids)
    assert await store.forget_journal(journal.path.name) == 0  # no marker left behind
    assert await _next_start(store, journal) is None
    await _exactly_once(store, ids)


async def test_a_replay_killed_before_or_after_removing_its_file_applies_nothing_twice(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after every write, before the journal file's removal: the next replay finds all
    three written. Killed after the removal, before the store forgot its markers: nothing is
    replayed, and the next start drops the markers."""
    journal, ids = await _three_outcomes(store, tmp_path, "8")
    real_unlink = Path.unlink

    def killed(self: Path, missing_ok: bool = False) -> None:
        if self == journal.path:
            raise Crash("killed before the journal file was removed")
        real_unlink(self, missing_ok)

    with monkeypatch.context() as m:
        m.setattr(Path, "unlink", killed)
        with pytest.raises(Crash):
            await journal.replay(store, "test-daemon")
    assert journal.path.exists()
    again = await journal.replay(store, "test-daemon")
    assert dict(again.counts) == {"already_stored": 3}
    assert again.written == []  # no second "call finished" for any of them
    assert not journal.path.exists()
    await _exactly_once(store, ids)

    journal, ids = await _three_outcomes(store, tmp_path, "9")

    async def forget_killed(self: Store, name: str) -> int:
        raise Crash("killed after the journal file was removed")

    with monkeypatch.context() as m:
        m.setattr(Store, "forget_journal", forget_killed)
        with pytest.raises(Crash):
            await journal.replay(store, "test-daemon")
    assert not journal.path.exists()
    await _exactly_once(store, ids)
    # the next start, without a journal file, drops what the killed one left
    assert await store.forget_journal(journal.path.name) == 3
    await journal.forget(store)
    assert await store.forget_journal(journal.path.name) == 0
    await _exactly_once(store, ids)


async def _leased_call_over(store: Store, phone: str, campaign_id: int) -> tuple[Transition, int]:
    """As ``_call_over`` for a retry (the contact open/$follow_up_auto after a first call),
    leased by this daemon (``test-daemon``) as a runner leases it, with the guards the
    taskflow sets; the journaled outcome would release the lease."""
    (cid,) = await store.add_contacts(campaign_id, [NewContact(phone=phone)], NOW)
    first = await store.get_contact(cid)
    await store.apply_transition(  # not reached at a first call, a retry due now
        Transition(
            contact_id=cid,
            actor="dialer",
            at=NOW - timedelta(hours=2),
            task_id=first.task_id,
            status=Status.OPEN,
            status_detail="$follow_up_auto",
            due_at=NOW - timedelta(hours=1),
            count_attempt=True,
        )
    )
    (leased,) = await store.lease(campaign_id, 1, "test-daemon", timedelta(minutes=5), NOW)
    assert leased.id == cid
    transition = await _connected(
        store,
        campaign_id,
        cid,
        phone,
        leased.task_id,
        expect_status_detail=leased.status_detail,
        expect_waiting=False,
    )
    return transition, cid


async def test_an_old_outcome_never_sets_back_a_contact_dialed_or_leased_again_since(
    store: Store, tmp_path: Path
) -> None:
    """The journal waited (the daemon stayed down past its leases and the day in-flight
    calls block a number); another daemon leased the contacts meanwhile, dialed one of them
    (no answer: open, retry due) and holds the other. The replay must not overwrite what is
    newer: before, the first contact was moved to "won" by the old outcome (its guards, open
    in task "call", held again) and the retry the other daemon booked was gone."""
    camp = await store.create_campaign(make_spec(), NOW)
    redialed_t, redialed = await _leased_call_over(store, "555030001", camp.id)
    held_t, held = await _leased_call_over(store, "555030002", camp.id)
    mine_t, mine = await _leased_call_over(store, "555030003", camp.id)
    later = NOW + timedelta(days=2)
    # another daemon leases what it can: the first two (the third is still ours: say the
    # daemon renewed that lease before it stopped)
    await store.renew([mine], "test-daemon", timedelta(days=3), NOW)
    taken = await store.lease(camp.id, 3, "other-daemon", timedelta(minutes=5), later)
    assert sorted(c.id for c in taken) == [redialed, held]
    contact = await store.get_contact(redialed)
    second = Attempt(
        id="other-1",
        campaign_id=camp.id,
        contact_id=redialed,
        task_id=contact.task_id,
        phone=contact.phone or "",
        server="sim2",
        originated_at=later,
        hungup_at=later + timedelta(seconds=30),
        result=CallResult.NO_ANSWER,
    )
    await store.start_attempt(replace(second, hungup_at=None, result=None))
    await store.apply_transition(
        Transition(
            contact_id=redialed,
            actor="dialer",
            at=later + timedelta(seconds=30),
            task_id=contact.task_id,
            status=Status.OPEN,
            status_detail="$follow_up_auto",
            due_at=later + timedelta(hours=1),
            count_attempt=True,
            attempt=second,
            expect_task_id=contact.task_id,
            expect_status=Status.OPEN,
        )
    )
    before_redialed = await store.get_contact(redialed)
    before_held = await store.get_contact(held)

    journal = OutcomeJournal(journal_file(tmp_path, store.url, "test-daemon"))
    journal.append([JournalEntry("camp", t, NOW) for t in (redialed_t, held_t, mine_t)])
    done = await journal.replay(store, "test-daemon")
    assert dict(done.counts) == {"superseded": 2, "applied": 1}

    # dialed again since: its newer state stays, the old call is in its attempts and history
    now_redialed = await store.get_contact(redialed)
    assert (now_redialed.task_id, now_redialed.status, now_redialed.status_detail) == (
        before_redialed.task_id,
        Status.OPEN,
        "$follow_up_auto",
    )
    assert now_redialed.due_at == before_redialed.due_at
    assert now_redialed.last_attempt_at == before_redialed.last_attempt_at  # not set back
    assert now_redialed.attempts == 3  # the first, the journaled and the other's call
    results = {a.id: (a.result, a.disposition) for a in await store.attempts(redialed)}
    assert results == {
        redialed_t.attempt.id: (CallResult.CONNECTED, "sale"),  # type: ignore[union-attr]
        "other-1": (CallResult.NO_ANSWER, None),
    }
    (note,) = [h for h in await store.history(redialed) if h.actor == "agent:a0"]
    assert (note.from_status, note.to_status, note.from_detail, note.to_detail) == (
        Status.OPEN,
        Status.OPEN,
        "$follow_up_auto",
        "$follow_up_auto",
    )
    assert note.note is not None
    assert "would have set success/sale" in note.note and "other-1" in note.note

    # leased by the other daemon (about to dial it): its lease and state stay
    now_held = await store.get_contact(held)
    assert (now_held.status, now_held.status_detail, now_held.lease_holder) == (
        before_held.status,
        before_held.status_detail,
        "other-daemon",
    )
    (recorded,) = await store.attempts(held)
    assert (recorded.result, recorded.disposition) == (CallResult.CONNECTED, "sale")
    (note,) = [h for h in await store.history(held) if h.actor == "agent:a0"]
    assert note.note is not None and "leased by other-daemon" in note.note

    # still leased by this daemon, nobody else dialed it: the outcome is written
    tasks = {t.id: t.name for t in await store.tasks(camp.id)}
    now_mine = await store.get_contact(mine)
    assert (tasks[now_mine.task_id], now_mine.lease_holder) == ("won", None)

    # each has its "call finished" event: the superseded ones with the contact as it is now
    events = {e.attempt.id: e for e in (finished_event(x, w, tasks) for x, w in done.written)}
    ev = events[redialed_t.attempt.id]  # type: ignore[union-attr]
    assert (ev.replayed, ev.stale, ev.status, ev.status_detail) == (
        True,
        True,
        Status.OPEN,
        "$follow_up_auto",
    )
    ev = events[mine_t.attempt.id]  # type: ignore[union-attr]
    assert (ev.replayed, ev.stale, ev.status, ev.next_task, ev.task) == (
        True,
        False,
        Status.SUCCESS,
        "won",
        "call",
    )
