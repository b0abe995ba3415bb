"""Outcomes the database could not take before a stop: journaled, written at the next start.

What the audit saw: a disposition taken during a database outage (202 "queued") and the
outcome of the call were kept in memory only; a stop (SIGTERM, ``systemctl stop``) before the
database came back lost them: the next start closed the attempt ``failed_unknown`` (logged
``outcome not stored at stop``) and dialed the contact again, although the call was answered,
talked and given a result by its agent. Expected: at the stop they go to the journal in the
state directory (fsync'd); the next start writes them into the store before it dials, once.

PostgreSQL behind the test's TCP proxy (cut for the outage), the simulated Asterisk over TCP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from tcp_proxy import TcpProxy
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, rig_at, until
from test_engine_store_outage import _agent_state

from dialerd.domain.changes import Transition
from dialerd.domain.enums import AgentState, CallResult, Status
from dialerd.domain.model import Attempt, Campaign
from dialerd.engine import CallProgressed, Engine, OutcomesJournaled, ScreenPop


def _journaled(rig: Rig) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in rig.events:
        if isinstance(e, OutcomesJournaled):
            out[e.outcome] = out.get(e.outcome, 0) + e.count
    return out


async def _connected_during_the_outage(rig: Rig, proxy: TcpProxy) -> tuple[Engine, str]:
    """One live call, dialed with the database there, answered and connected to agent a0
    while the runner waits for the database (its connect event still in the runner's
    inbox). Returns with the proxy down and the agent talking."""
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) == 1)
    await engine.agent_pause("a0", True)  # the answered call waits in the queue
    attempt_id = next(e.attempt_id for e in rig.events if isinstance(e, CallProgressed))
    await proxy.down()
    await until(lambda: engine.status().campaigns[0].runner == "waiting for the store", limit=20)
    await engine.agent_pause("a0", False)
    await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.TALKING, limit=10)
    return engine, attempt_id


async def _journaled_campaign(
    rig: Rig, journal: Path, connect_limit: str, live_contacts: int
) -> tuple[Campaign, list[int]]:
    """The rig journals to ``journal``; one campaign with ``live_contacts`` callees who answer
    and agent a0 in its queue (the wrap-up long enough to outlast the outage)."""
    rig.settings = dataclasses.replace(rig.settings, journal=journal)
    camp = await rig.campaign(make_spec(connect_limit=connect_limit, wrapup={"limit": "300s"}))
    cids = await rig.contacts(camp, live(live_contacts))
    await rig.agent("a0", AGENTS[0], ("camp",))
    return camp, cids


@pytest.mark.postgres
async def test_a_queued_disposition_survives_a_stop_before_the_database_is_back(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied_url
    journal = tmp_path / "state" / "unwritten.jsonl"
    journal.parent.mkdir()
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0, url=url) as rig:
        camp, (cid,) = await _journaled_campaign(rig, journal, "30s", 1)
        try:
            engine, attempt_id = await _connected_during_the_outage(rig, proxy)
            # the callee hangs up after its 20 s; then the agent gives the result
            await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.WRAPUP, limit=10)
            taken = await asyncio.wait_for(
                engine.disposition("a0", "success", "sale", attempt_id=attempt_id), 2
            )
            assert taken.queued
            # stop with the database still away: the drain waits up to its bound, then the
            # outcome goes to the journal
            await rig.stop(drain=5.0)
        finally:
            await proxy.up()
        assert rig.finished() == []
        # the disposition when it was taken (for a crash), the whole outcome at the stop
        assert _journaled(rig) == {"queued": 1, "journaled": 1}
        queued, line = journal.read_text().splitlines()
        assert json.loads(queued)["kind"] == "disposition"
        entry = json.loads(line)
        assert entry["kind"] == "outcome"
        assert entry["transition"]["attempt"]["id"] == attempt_id
        assert entry["transition"]["attempt"]["disposition"] == "sale"
        assert entry["transition"]["attempt"]["hungup_at"] is not None  # the tracker's end

        # nothing of it in the store yet: the attempt is open, as a crash would leave it
        (open_attempt,) = await rig.store.unfinished_attempts(camp.id)
        assert open_attempt.id == attempt_id

        # the next start, the database back: written before the campaign dials, once
        rig.events.clear()
        await rig.start()
        assert _journaled(rig) == {"applied": 1}
        assert not journal.exists()
        (attempt,) = await rig.store.attempts(cid)
        assert (attempt.id, attempt.result, attempt.disposition, attempt.agent) == (
            attempt_id,
            CallResult.CONNECTED,
            "sale",
            "a0",
        )
        assert attempt.connected_at is not None and attempt.hungup_at is not None
        assert (attempt.hungup_at - attempt.connected_at).total_seconds() > 15  # as talked
        contact = await rig.store.get_contact(cid)
        tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
        assert tasks[contact.task_id] == "won"
        history = await rig.store.history(cid)
        assert [h.actor for h in history if h.to_status is Status.SUCCESS] == ["agent:a0"]
        assert not any(isinstance(e, ScreenPop) for e in rig.events)
        await rig.stop()

        # the same line again (a crash after the replay wrote it, before the file was
        # removed): stored already, not applied twice
        journal.write_text(line + "\n")
        rig.events.clear()
        await rig.start()
        assert _journaled(rig) == {"already_stored": 1}
        assert not journal.exists()
        assert len(await rig.store.attempts(cid)) == 1
        assert len([h for h in await rig.store.history(cid) if h.to_status is Status.SUCCESS]) == 1
        await rig.stop()


@pytest.mark.postgres
async def test_calls_still_going_at_a_stop_in_an_outage_are_journaled_as_a_drain_closes_them(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """A connected call still talking when the drain bound passes is closed with the agent's
    disposition given meanwhile, as a drain with the database there closes it, and written at
    the next start (not closed again as lost)."""
    url, proxy = proxied_url
    journal = tmp_path / "unwritten.jsonl"
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0, url=url) as rig:
        camp, (cid,) = await _journaled_campaign(rig, journal, "30s", 1)
        try:
            engine, attempt_id = await _connected_during_the_outage(rig, proxy)
            taken = await asyncio.wait_for(engine.disposition("a0", "declined", "no_need"), 2)
            assert (taken.attempt_id, taken.queued) == (attempt_id, True)
            await rig.stop(drain=1.0)  # the callee talks on
        finally:
            await proxy.up()
        assert _journaled(rig) == {"queued": 1, "journaled": 1}
        rig.events.clear()
        await rig.start()
        assert _journaled(rig) == {"applied": 1}
        (attempt,) = await rig.store.attempts(cid)
        assert (attempt.result, attempt.disposition) == (CallResult.CONNECTED, "no_need")
        contact = await rig.store.get_contact(cid)
        tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
        assert (tasks[contact.task_id], contact.attempts) == ("lost", 0)
        await rig.stop()


@pytest.mark.postgres
async def test_a_database_lost_during_the_drain_journals_what_its_bound_closes(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """The database goes away while the daemon drains: the write of the call closed at the
    drain bound fails there (``_close_all``), and that call and the rest go to the journal."""
    url, proxy = proxied_url
    journal = tmp_path / "unwritten.jsonl"
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0, url=url) as rig:
        camp, cids = await _journaled_campaign(rig, journal, "10s", 2)
        await rig.agent("a1", AGENTS[1], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await engine.agent_login("a1")
        await until(lambda: sum(isinstance(e, ScreenPop) for e in rig.events) == 2)
        taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
        assert taken.state.value == "at_call_end"
        stopping = asyncio.create_task(rig.stop(drain=10.0))  # 2 s real; the callees talk on
        try:
            await asyncio.sleep(0.5)
            await proxy.down()
            await stopping
        finally:
            await proxy.up()
        assert engine.status().campaigns == ()
        assert _journaled(rig) == {"journaled": 2}
        rig.events.clear()
        await rig.start()
        assert _journaled(rig) == {"applied": 2}
        results = {}
        for cid in cids:
            (attempt,) = await rig.store.attempts(cid)
            results[attempt.agent] = (attempt.result, attempt.disposition)
        assert results == {
            "a0": (CallResult.CONNECTED, "sale"),
            "a1": (CallResult.CONNECTED, "no_disposition"),  # the wrap-up default
        }
        await rig.stop()


async def test_an_engine_cancelled_at_its_stop_journals_the_calls_it_holds(tmp_path: Path) -> None:
    """The daemon cancels the engine when its drain overruns the real-time bound (a runner
    stuck on a database that stopped answering): the calls it held, with the dispositions
    given, went with the process. Now they are closed as a drain closes them and journaled."""
    journal = tmp_path / "unwritten.jsonl"
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0) as rig:
        camp, (cid,) = await _journaled_campaign(rig, journal, "10s", 1)
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
        taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
        assert taken.state.value == "at_call_end"
        await rig.crash()  # cancelled while the callee talks
        assert _journaled(rig) == {"journaled": 1}
        assert rig.finished() == []
        rig.events.clear()
        await rig.start()
        assert _journaled(rig) == {"applied": 1}
        (attempt,) = await rig.store.attempts(cid)
        assert (attempt.result, attempt.disposition) == (CallResult.CONNECTED, "sale")
        # its "call finished" event, as every call has one (before: none), marked replayed
        (done,) = rig.finished()
        assert (done.attempt.id, done.contact_id, done.replayed, done.stale) == (
            attempt.id,
            cid,
            True,
            False,
        )
        assert (done.result, done.status, done.status_detail, done.task, done.next_task) == (
            CallResult.CONNECTED,
            Status.SUCCESS,
            "sale",
            "call",
            "won",
        )
        assert done.agent == "a0"
        await rig.stop()


@pytest.mark.postgres
async def test_a_disposition_queued_in_an_outage_survives_a_crash(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """SIGKILL (or the OOM killer, a power loss) in an outage: nothing runs at the end, only
    what was journaled before is kept. A disposition queued in an outage is journaled as it is
    taken, so the next start closes the call's attempt, which it finds left open, as connected
    with the agent's result (before: ``failed_unknown``, the agent's result lost)."""
    url, proxy = proxied_url
    journal = tmp_path / "unwritten.jsonl"
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0, url=url) as rig:
        camp, (cid,) = await _journaled_campaign(rig, journal, "30s", 1)
        try:
            engine, attempt_id = await _connected_during_the_outage(rig, proxy)
            taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
            assert taken.queued
            # what a process killed now leaves on disk (the engine cancelled here would
            # still journal the outcome at its end; a SIGKILL does not)
            left = journal.read_text()
            await rig.crash()
        finally:
            await proxy.up()
        journal.write_text(left)
        assert [json.loads(x)["kind"] for x in left.splitlines()] == ["disposition"]

        rig.events.clear()
        await rig.start()
        await until(lambda: bool(rig.finished()))  # closed by the runner's recovery
        assert _journaled(rig) == {"recovered": 1}
        (attempt,) = await rig.store.attempts(cid)
        assert (attempt.id, attempt.result, attempt.disposition, attempt.agent) == (
            attempt_id,
            CallResult.CONNECTED,
            "sale",
            "a0",
        )
        assert attempt.connected_at is not None
        assert attempt.hungup_at is None  # its end was not seen
        tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
        assert tasks[(await rig.store.get_contact(cid)).task_id] == "won"
        assert journal.exists()  # kept until a start finds the attempt stored
        await rig.stop()
        rig.events.clear()
        await rig.start()
        assert not journal.exists()
        assert _journaled(rig) == {}
        assert len(await rig.store.attempts(cid)) == 1
        await rig.stop()


async def test_a_disposition_journaled_before_a_crash_does_not_set_back_a_contact_dialed_since(
    tmp_path: Path,
) -> None:
    """The daemon was killed in an outage with an agent's result journaled (a ``disposition``
    line) and its call's attempt left open; it stayed down, and another daemon dialed the
    contact since (no answer: open, retry due in an hour). The start closing the lost call
    must not apply that old result over the newer state (before: the contact went to "won"
    and its retry was gone); the attempt is recorded with the agent's result."""
    journal = tmp_path / "unwritten.jsonl"
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0) as rig:
        rig.settings = dataclasses.replace(rig.settings, journal=journal)
        camp = await rig.campaign(make_spec(wrapup={"limit": "300s"}))
        # a number nobody answers: the campaign has nothing to dial after the start
        (cid,) = await rig.contacts(camp, ["555990001"])
        contact = await rig.store.get_contact(cid)
        now = rig.clock.now()
        lost = Attempt(
            id="lost-1",
            campaign_id=camp.id,
            contact_id=cid,
            task_id=contact.task_id,
            phone="555990001",
            server="sim1",
            originated_at=now - timedelta(hours=30),
        )
        await rig.store.start_attempt(lost)
        journal.write_text(
            json.dumps(
                {
                    "kind": "disposition",
                    "campaign": "camp",
                    "attempt_id": lost.id,
                    "contact_id": cid,
                    "agent": AGENTS[0],
                    "connected_at": (now - timedelta(hours=30)).isoformat(),
                    "disposition": {"status": "success", "status_detail": "sale"},
                    "journaled_at": (now - timedelta(hours=30)).isoformat(),
                }
            )
            + "\n"
        )
        other = Attempt(
            id="other-1",
            campaign_id=camp.id,
            contact_id=cid,
            task_id=contact.task_id,
            phone="555990001",
            server="sim9",
            originated_at=now - timedelta(minutes=10),
            hungup_at=now - timedelta(minutes=9),
            result=CallResult.NO_ANSWER,
        )
        await rig.store.start_attempt(dataclasses.replace(other, hungup_at=None, result=None))
        await rig.store.apply_transition(
            Transition(
                contact_id=cid,
                actor="dialer",
                at=now - timedelta(minutes=9),
                task_id=contact.task_id,
                status=Status.OPEN,
                status_detail="$follow_up_auto",
                due_at=now + timedelta(hours=1),
                count_attempt=True,
                attempt=other,
                expect_task_id=contact.task_id,
                expect_status=Status.OPEN,
            )
        )
        before = await rig.store.get_contact(cid)

        await rig.start()
        await until(lambda: _journaled(rig).get("recovered") == 1)
        await rig.stop()
        after = await rig.store.get_contact(cid)
        assert (after.task_id, after.status, after.status_detail, after.due_at) == (
            before.task_id,
            Status.OPEN,
            "$follow_up_auto",
            before.due_at,
        )
        assert after.last_attempt_at == before.last_attempt_at  # not set back
        results = {a.id: (a.result, a.disposition) for a in await rig.store.attempts(cid)}
        assert results == {
            "lost-1": (CallResult.CONNECTED, "sale"),
            "other-1": (CallResult.NO_ANSWER, None),
        }
