"""The engine through a database outage (PostgreSQL behind a proxy the test takes down).

What the audit saw: a 1-3 s outage ended the whole daemon (rc 70, no drain), and the outcomes of
the calls in progress were lost, closed at the next start as ``failed_unknown`` and redialed,
although they were answered and talked. Expected: the engine keeps running, holds the calls and
their outcomes (and the agent's disposition) in memory and writes them once the database is back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tcp_proxy import TcpProxy
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, rig_at, until

from dialerd.api.health import HealthChecks, run_checks
from dialerd.domain.enums import AgentState, CallResult, Status
from dialerd.engine import (
    CallProgressed,
    DispositionTaken,
    InvalidDisposition,
    NoSuchCall,
    ScreenPop,
)

pytestmark = pytest.mark.postgres


async def test_an_outcome_during_a_database_outage_is_stored_after_it(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied_url
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=10.0, url=url) as rig:
        camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "300s"}))
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))

        await proxy.down()  # the database goes away while the agent talks
        await rig.wait_clock(30)  # the callee hangs up after 20 s: the outcome comes now
        disposition = asyncio.create_task(engine.disposition("a0", "success", "sale"))
        try:
            await _outage_then_back(rig, proxy, disposition, cid, camp.id)
        finally:
            disposition.cancel()


async def _outage_then_back(
    rig: Rig, proxy: TcpProxy, disposition: asyncio.Task[DispositionTaken], cid: int, camp_id: int
) -> None:
    engine = rig.engine
    assert engine is not None
    await rig.wait_clock(30)
    assert rig.task is not None and not rig.task.done(), "the engine ended in the outage"
    assert rig.finished() == []
    assert rig.store.writes.failing is not None  # /healthz: store writes failing
    assert engine.status().campaigns[0].runner == "waiting for the store"

    await proxy.up()
    await until(lambda: bool(rig.finished()), limit=20)
    attempt_id = (await asyncio.wait_for(disposition, 10)).attempt_id
    done = rig.finished()[0]
    assert (done.attempt.id, done.result, done.status, done.status_detail) == (
        attempt_id,
        CallResult.CONNECTED,
        Status.SUCCESS,
        "sale",
    )
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is CallResult.CONNECTED and attempt.disposition == "sale"
    contact = await rig.store.get_contact(cid)
    tasks = {t.id: t.name for t in await rig.store.tasks(camp_id)}
    assert tasks[contact.task_id] == "won"
    assert rig.store.writes.failing is None
    assert not rig.task.done()
    assert engine.status().campaigns[0].restarts == 0  # an outage is not a crash
    await rig.stop()
    assert await rig.store.unfinished_attempts(camp_id) == []


async def test_a_database_connection_gone_silent_holds_dialing_only_for_the_timeout(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """The audit's P3: packets of the open connections dropped (new ones work). Without
    timeouts the campaign stood still until TCP gave up (~15 min), /healthz 200 throughout.
    Now a statement fails after ``command_timeout``, the runner goes on with a new connection,
    and while it is stuck /healthz says so (``pacing``)."""
    url, proxy = proxied_url
    async with rig_at(
        tmp_path, MONDAY_10_UTC, speed=10.0, url=url, connect_timeout=2.0, command_timeout=3.0
    ) as rig:
        camp = await rig.campaign(make_spec(dial={"mode": "power", "calls_per_ready_agent": 2}))
        await rig.contacts(camp, [f"55502{i:04d}" for i in range(400)])  # busy: quick calls
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: len(rig.dialed()) >= 3)
        checks = HealthChecks(stalled=lambda: engine.stalled(10.0))

        proxy.freeze()  # every open connection stops answering; new ones work
        try:
            frozen_at = len(rig.dialed())
            await until(lambda: bool(engine.stalled(10.0)), limit=10)
            ok, report = await run_checks(checks)
            assert not ok and "camp" in report["pacing"]["stalled_seconds"]
            # past the command timeout (3 s real) the runner dials again on new connections,
            # the freeze still on
            await until(lambda: len(rig.dialed()) >= frozen_at + 5, limit=30)
            await until(lambda: not engine.stalled(10.0), limit=10)
            ok, report = await run_checks(checks)
            assert ok and report["pacing"] == {"ok": True, "stalled_seconds": {}}
        finally:
            await proxy.up()  # else the cleanup waits on frozen connections
        await rig.stop()


async def test_a_disposition_to_a_runner_waiting_for_the_store_is_taken_at_once(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """What the audit saw: an agent's disposition sent while the campaign runner waited for
    the database hung (HTTP request, MQTT reader) until the database was back. Expected: it is
    checked against the call in memory and taken at once, the answer says it is kept until
    the store is back, the agent leaves wrap-up, and once the store is back it is written
    exactly once."""
    url, proxy = proxied_url
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=10.0, url=url) as rig:
        camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "300s"}))
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
        pop = next(e for e in rig.events if isinstance(e, ScreenPop))

        await proxy.down()
        try:
            await until(
                lambda: engine.status().campaigns[0].runner == "waiting for the store", limit=20
            )
            # the callee hangs up (20 s talk): the agent wraps up
            await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.WRAPUP, limit=10)

            # refused at once when it cannot be right, as with the store up
            with pytest.raises(InvalidDisposition):
                await asyncio.wait_for(engine.disposition("a0", "failed", "$dnc"), 2)
            with pytest.raises(NoSuchCall):
                await asyncio.wait_for(
                    engine.disposition("a0", "success", "sale", attempt_id="nope"), 2
                )
            taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
            assert taken.attempt_id == pop.attempt_id
            assert taken.queued and not taken.stored
            # the agent is done with the call: out of wrap-up, not held there by the outage
            await until(lambda: _agent_state(rig, AGENTS[0]) is not AgentState.WRAPUP, limit=2)
            # given twice (a desktop resending): refused, never applied twice
            with pytest.raises(NoSuchCall):
                await asyncio.wait_for(
                    engine.disposition("a0", "declined", "no", attempt_id=pop.attempt_id), 2
                )
            assert rig.finished() == []
        finally:
            await proxy.up()

        await until(lambda: bool(rig.finished()), limit=20)
        (done,) = rig.finished()
        assert (done.attempt.id, done.status, done.status_detail) == (
            pop.attempt_id,
            Status.SUCCESS,
            "sale",
        )
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.result is CallResult.CONNECTED and attempt.disposition == "sale"
        contact = await rig.store.get_contact(cid)
        tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
        assert tasks[contact.task_id] == "won"
        await rig.stop()
        assert len(rig.finished()) == 1


def _agent_state(rig: Rig, interface: str) -> AgentState | None:
    status = rig.server.agents.get(interface)
    return status.state if status is not None else None


async def test_an_agent_who_gave_the_disposition_while_talking_has_no_wrapup_in_an_outage(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """The runner ends the agent's wrap-up when it writes the outcome; with the database away
    that write waits, and the agent sat out the whole wrap-up limit (300 s here) although they
    had given the disposition during the talk."""
    url, proxy = proxied_url
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=10.0, url=url) as rig:
        camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "300s"}))
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))

        await proxy.down()
        try:
            taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
            assert not taken.stored
            await until(lambda: _agent_state(rig, AGENTS[0]) is not AgentState.TALKING, limit=10)
            # the callee hung up: no wrap-up (seconds, not the 300 s limit)
            await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.READY, limit=3)
            assert rig.finished() == []
        finally:
            await proxy.up()
        await until(lambda: bool(rig.finished()), limit=20)
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.disposition == "sale"
        await rig.stop()


async def test_a_call_connected_while_the_runner_waits_for_the_store_takes_its_disposition(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """What the audit saw: a call answered and connected to its agent during the outage got
    409 for its disposition (over HTTP and MQTT alike): the runner waiting for the database
    had not taken in the call's connect event (it sits in the runner's inbox until the loop
    runs again), so the engine knew no agent of the call. Expected: taken and queued like any
    other, the agent out of wrap-up when the callee hangs up, and written once, after the
    call's own events, when the database is back."""
    url, proxy = proxied_url
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=5.0, url=url) as rig:
        camp = await rig.campaign(make_spec(connect_limit="30s", wrapup={"limit": "300s"}))
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: len(rig.dialed()) == 1)
        # the agent steps away: the answered call waits in the queue (connect limit 30 s)
        await engine.agent_pause("a0", True)
        attempt_id = next(e.attempt_id for e in rig.events if isinstance(e, CallProgressed))

        await proxy.down()
        try:
            await until(
                lambda: engine.status().campaigns[0].runner == "waiting for the store", limit=20
            )
            # answered, waiting in the queue: no agent's call yet
            with pytest.raises(NoSuchCall):
                await asyncio.wait_for(
                    engine.disposition("a0", "success", "sale", attempt_id=attempt_id), 2
                )
            await engine.agent_pause("a0", False)  # back: the queue connects the call
            await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.TALKING, limit=10)
            assert not any(isinstance(e, ScreenPop) for e in rig.events)  # not taken in yet

            taken = await asyncio.wait_for(engine.disposition("a0", "success", "sale"), 2)
            assert (taken.attempt_id, taken.queued) == (attempt_id, True)
            with pytest.raises(NoSuchCall):  # once only
                await asyncio.wait_for(
                    engine.disposition("a0", "declined", "no", attempt_id=attempt_id), 2
                )
            # the callee hangs up (20 s talk): no wrap-up, the disposition was given
            await until(lambda: _agent_state(rig, AGENTS[0]) is not AgentState.TALKING, limit=10)
            await until(lambda: _agent_state(rig, AGENTS[0]) is AgentState.READY, limit=3)
            assert rig.finished() == []
        finally:
            await proxy.up()

        await until(lambda: bool(rig.finished()), limit=20)
        (done,) = rig.finished()
        assert (done.attempt.id, done.result, done.status, done.status_detail) == (
            attempt_id,
            CallResult.CONNECTED,
            Status.SUCCESS,
            "sale",
        )
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.result is CallResult.CONNECTED and attempt.disposition == "sale"
        assert attempt.connected_at is not None and attempt.hungup_at is not None
        assert attempt.agent == "a0"
        tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
        assert tasks[(await rig.store.get_contact(cid)).task_id] == "won"
        # the screen pop of a call whose disposition came first is not sent late
        assert not any(isinstance(e, ScreenPop) for e in rig.events)
        await rig.stop()
        assert len(rig.finished()) == 1
