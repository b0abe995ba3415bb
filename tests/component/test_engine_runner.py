"""The campaign engine against the simulated Asterisk over TCP, in accelerated time.

Each test builds a real store (SQLite file), a SimAsterisk on a loopback port, an
AsteriskServer (link + trackers) and the Engine, all on one ScaledClock, and watches what the
engine does through the simulator's wire (Originates received) and the engine's own events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialerd.ami import AsteriskServer, ServerConfig
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import CallResult, CampaignStatus, Status, StatusDetail
from dialerd.domain.model import Agent, Campaign
from dialerd.engine import (
    AttemptFinished,
    CallProgressed,
    CampaignSwitched,
    Engine,
    EngineEvent,
    EngineSettings,
    InvalidDisposition,
    LeadTaken,
    NoSuchCall,
    PreviewOffered,
    ScreenPop,
    UnknownAgent,
)
from dialerd.sim import SimAsterisk, SimModel
from dialerd.store import Store, upgrade
from dialerd.store import agentwork as work

MONDAY_10_UTC = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SPEED = 20.0
DEAD_PEER = 120.0  # clock seconds (6 s real at SPEED)


def make_spec(name: str = "camp", **over: Any) -> CampaignSpec:
    data: dict[str, Any] = {
        "name": name,
        "timezone": "UTC",
        "dial": {"mode": "progressive"},
        "schedule": {"status": "enabled"},
        "tasks": [
            {"name": "call", "type": "call"},
            {"name": "won", "type": "export"},
            {"name": "lost", "type": "export"},
        ],
        "rules": [
            {"from": "call", "status": "success", "to": "won"},
            {"from": "call", "status": "declined", "to": "lost"},
        ],
        "queue": f"q-{name}",
        "caller_ids": ["+493012345678"],
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return CampaignSpec.model_validate(data)


@dataclass
class Rig:
    store: Store
    sim: SimAsterisk
    server: AsteriskServer
    clock: ScaledClock
    settings: EngineSettings
    events: list[EngineEvent] = field(default_factory=list)
    engine: Engine | None = None
    task: asyncio.Task[None] | None = None

    async def campaign(self, spec: CampaignSpec) -> Campaign:
        return await self.store.create_campaign(spec, self.clock.now())

    async def contacts(
        self, campaign: Campaign, phones: list[str], *, tz: str | None = None, **kw: Any
    ) -> list[int]:
        return await self.store.add_contacts(
            campaign.id,
            [NewContact(phone=p, timezone=tz, **kw) for p in phones],
            self.clock.now(),
        )

    async def agent(self, name: str, interface: str, campaigns: tuple[str, ...]) -> None:
        await self.store.upsert_agent(
            Agent(name=name, interface=interface, campaigns=campaigns), self.clock.now()
        )

    async def start(self) -> Engine:
        engine = Engine(self.store, {"sim1": self.server}, self.clock, self.settings)
        engine.add_listener(self.events.append)
        self.engine = engine
        self.task = asyncio.create_task(engine.run(), name="engine-under-test")
        await until(lambda: bool(engine.status().campaigns) or self.task_done())
        await until(lambda: all(c.runner == "running" for c in engine.status().campaigns))
        return engine

    def task_done(self) -> bool:
        return self.task is not None and self.task.done()

    async def stop(self, drain: float = 0.0) -> None:
        assert self.engine is not None and self.task is not None
        await asyncio.wait_for(self.engine.stop(drain), 10)
        await asyncio.wait_for(self.task, 10)
        self.engine, self.task = None, None

    async def crash(self) -> None:
        """The daemon dies: no drain, no closing, nothing flushed."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.engine, self.task = None, None

    async def wait_clock(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def dialed(self) -> list[int]:
        """Contact ids in the order the engine dialed them."""
        return [
            e.contact_id
            for e in self.events
            if isinstance(e, CallProgressed) and e.phase == "dialing"
        ]

    def finished(self) -> list[AttemptFinished]:
        return [e for e in self.events if isinstance(e, AttemptFinished)]


async def until(pred: Callable[[], bool], limit: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def rig_at(
    tmp_path: Path,
    start: datetime,
    speed: float = SPEED,
    url: str | None = None,
    server_kw: dict[str, Any] | None = None,
    sim_model: SimModel | None = None,
    **store_kw: Any,
) -> AsyncIterator[Rig]:
    """``url``: an already migrated database (the store fixtures'); default a SQLite file.
    ``server_kw``: more ``ServerConfig`` settings of the simulated Asterisk.
    ``sim_model``: the simulator's model (e.g. only the queues its queues.conf would define).
    ``store_kw``: for ``Store.open`` (e.g. its timeouts)."""
    if url is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'engine.sqlite'}"
        await upgrade(url)
    clock = ScaledClock(speed, start=start)
    store = await Store.open(url, **store_kw)
    sim = SimAsterisk(clock=clock, seed=3, model=sim_model)
    await sim.start()
    server = AsteriskServer(
        ServerConfig(
            name="sim1",
            port=sim.port,
            username="dialer",
            secret="dialerpass",
            # generous in accelerated time: a busy test machine must not look like a dead peer
            dead_peer_timeout=DEAD_PEER,
            action_timeout=DEAD_PEER / 2,
            **(server_kw or {}),
        ),
        clock=clock,
    )
    server.start()
    settings = EngineSettings(tick_seconds=1.0, holder="test-daemon", restart_backoff_min=1.0)
    rig = Rig(store, sim, server, clock, settings)
    try:
        await until(lambda: server.ready)
        yield rig
    finally:
        # bounded, so a stuck shutdown fails this test instead of hanging the suite
        if rig.task is not None:
            await asyncio.wait_for(rig.crash(), 10)
        await asyncio.wait_for(server.close(), 10)
        await asyncio.wait_for(sim.stop(), 10)
        await asyncio.wait_for(store.close(), 10)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


def no_answer(n: int, base: int = 0) -> list[str]:
    """Numbers that ring until the ring timeout (they keep calls in flight)."""
    return [f"55503{base + i:04d}" for i in range(n)]


def live(n: int, base: int = 0) -> list[str]:
    """Numbers a live person answers after 2 s and talks 20 s on."""
    return [f"55501{base + i:04d}" for i in range(n)]


AGENTS = [f"Local/agent-{i}@sim-agents" for i in range(1, 6)]


# --------------------------------------------------------------------------- dial modes


@pytest.mark.parametrize(
    ("dial", "expected"),
    [
        ({"mode": "progressive"}, 2),
        ({"mode": "power", "calls_per_ready_agent": 2.5}, 5),
        ({"mode": "power", "calls_per_ready_agent": 2.5, "max_concurrent_calls": 3}, 3),
        ({"mode": "predictive"}, 2),  # two agents: too few for statistics -> progressive
    ],
)
async def test_each_mode_places_the_right_number_of_calls_for_the_agent_states(
    rig: Rig, dial: dict[str, Any], expected: int
) -> None:
    camp = await rig.campaign(make_spec(dial=dial, ring_timeout="60s"))
    await rig.contacts(camp, no_answer(20))
    for i, iface in enumerate(AGENTS[:3]):
        await rig.agent(f"a{i}", iface, ("camp",))
    engine = await rig.start()
    await engine.agent_login("a2", paused=True)
    for i in range(2):
        await engine.agent_login(f"a{i}")
    await until(lambda: len(rig.sim.originate_action_ids) >= expected)
    await rig.wait_clock(6)  # well within the 60 s ring timeout: nothing has ended
    assert len(rig.sim.originate_action_ids) == expected
    assert len(set(rig.dialed())) == expected
    view = engine.status().campaigns[0]
    assert view.calls_in_flight == expected
    assert view.agents_by_state["ready"] == 2
    assert view.agents_by_state["paused"] == 1
    assert view.last_decision is not None and view.last_decision.ready == 2


async def test_a_disabled_or_out_of_window_campaign_places_no_call(rig: Rig) -> None:
    off = await rig.campaign(make_spec("off", schedule={"status": "disabled"}))
    closed = await rig.campaign(
        make_spec(
            "closed",
            schedule={
                "status": "automatic",
                "periods": [{"days": ["mon"], "from": "14:00", "to": "16:00"}],
            },
        )
    )
    await rig.contacts(off, no_answer(5))
    await rig.contacts(closed, no_answer(5, base=100))
    await rig.agent("a0", AGENTS[0], ("off", "closed"))
    engine = await rig.start()
    assert sorted(await engine.agent_login("a0")) == ["closed", "off"]
    await until(lambda: engine.status().agents and engine.status().agents[0].state == "ready")
    await rig.wait_clock(8)
    assert rig.sim.originate_action_ids == []
    assert {c.name: c.active for c in engine.status().campaigns} == {
        "closed": False,
        "off": False,
    }
    # enabling it through the engine starts dialing within a tick
    await engine.set_campaign_status("off", CampaignStatus.ENABLED)
    await until(lambda: len(rig.sim.originate_action_ids) == 1)


async def test_automatic_campaign_switches_at_its_period_edges(tmp_path: Path) -> None:
    # 10:59:50 Berlin on a Monday; the period runs 11:00-11:01 Berlin time.
    start = datetime(2026, 1, 5, 9, 59, 50, tzinfo=UTC)
    # half the usual speed: on a loaded machine each call's set-up costs clock seconds, and at
    # full speed a 60 s period held only 2 calls of 15 s
    async with rig_at(tmp_path, start, speed=SPEED / 2) as rig:
        camp = await rig.campaign(
            make_spec(
                timezone="Europe/Berlin",
                ring_timeout="15s",
                schedule={
                    "status": "automatic",
                    "periods": [{"days": ["mon"], "from": "11:00", "to": "11:01"}],
                },
            )
        )
        await rig.contacts(camp, no_answer(40))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        edge_on = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        edge_off = edge_on + timedelta(minutes=1)
        await until(lambda: rig.clock.now() > edge_off + timedelta(seconds=20), limit=20)
        switches = [e for e in rig.events if isinstance(e, CampaignSwitched)]
        assert [s.active for s in switches] == [True, False]
        assert edge_on <= switches[0].at < edge_on + timedelta(seconds=5)
        assert edge_off <= switches[1].at < edge_off + timedelta(seconds=5)
        dial_times = [
            e.at for e in rig.events if isinstance(e, CallProgressed) and e.phase == "dialing"
        ]
        # one agent, 15 s no-answers: a new call after each one ends, only inside the period
        assert len(dial_times) >= 3
        assert all(edge_on <= t < edge_off for t in dial_times), (dial_times, edge_on)


async def test_no_contact_is_dialed_outside_8_to_21_in_its_own_time_zone(
    tmp_path: Path,
) -> None:
    # 19:30 UTC: Berlin 20:30 (ok), New York 14:30 (ok), Tokyo 04:30 (no), Moscow 22:30 (no),
    # no zone -> the campaign's (UTC, 19:30: ok).
    async with rig_at(tmp_path, datetime(2026, 1, 5, 19, 30, tzinfo=UTC)) as rig:
        camp = await rig.campaign(make_spec(dial={"mode": "power", "calls_per_ready_agent": 5}))
        ok: set[int] = set()
        ok |= set(await rig.contacts(camp, no_answer(2, 0), tz="Europe/Berlin"))
        ok |= set(await rig.contacts(camp, no_answer(2, 10), tz="America/New_York"))
        ok |= set(await rig.contacts(camp, no_answer(2, 20)))
        bad = set(await rig.contacts(camp, no_answer(2, 30), tz="Asia/Tokyo"))
        bad |= set(await rig.contacts(camp, no_answer(2, 40), tz="Europe/Moscow"))
        later = await rig.contacts(
            camp, no_answer(1, 50), due_at=rig.clock.now() + timedelta(hours=1)
        )
        await rig.agent("a0", AGENTS[0], ("camp",))
        await rig.agent("a1", AGENTS[1], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await engine.agent_login("a1")
        await until(lambda: set(rig.dialed()) >= ok)
        await rig.wait_clock(40)  # first calls ended: the dialer looked for more work
        assert set(rig.dialed()) == ok
        assert not set(rig.dialed()) & (bad | set(later))


async def test_a_number_on_the_do_not_call_list_is_never_dialed(rig: Rig) -> None:
    camp = await rig.campaign(make_spec(dial={"mode": "power", "calls_per_ready_agent": 6}))
    numbers = no_answer(6)
    ids = await rig.contacts(camp, numbers)
    await rig.store.add_dnc([numbers[0]], "test", rig.clock.now())
    await rig.store.add_dnc([numbers[1]], "test", rig.clock.now(), campaign_id=camp.id)
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) >= 4)
    # a number listed while the campaign runs is skipped from then on too
    await rig.store.add_dnc([no_answer(1, base=100)[0]], "test", rig.clock.now())
    later = await rig.contacts(camp, no_answer(2, base=100))
    await until(lambda: later[1] in rig.dialed())
    await rig.wait_clock(5)
    dialed = set(rig.dialed())
    assert ids[0] not in dialed and ids[1] not in dialed and later[0] not in dialed
    assert set(ids[2:]) <= dialed
    assert (await rig.store.get_contact(ids[0])).status_detail == StatusDetail.DNC


async def test_the_dnc_list_is_checked_again_just_before_the_originate(rig: Rig) -> None:
    camp = await rig.campaign(make_spec())
    ids = await rig.contacts(camp, no_answer(1))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    runner = engine._runners[camp.id]
    leased = await runner._lease(1, rig.clock.now())
    assert [c.id for c in leased] == ids
    await rig.store.add_dnc(["555030000"], "test", rig.clock.now())
    servers = [rig.server]
    assert await runner.submit(lambda: runner._dial(leased[0], servers)) is None
    assert rig.sim.originate_action_ids == []


@pytest.mark.parametrize(("limit", "sent"), [("2s", "2"), ("1.5s", "1"), ("0.5s", "1")])
async def test_the_connect_limit_is_sent_in_whole_seconds(rig: Rig, limit: str, sent: str) -> None:
    """Asterisk's Queue() reads its timeout with atoi() (checked on Asterisk 22.10.1): "1.5"
    waits 1 s and "0.5" gives up before ringing anyone, abandoning every answered call. So
    dialerd sends whole seconds, rounded down (never over the limit), at least 1."""
    camp = await rig.campaign(make_spec(connect_limit=limit, ring_timeout="60s"))
    await rig.contacts(camp, no_answer(1))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: bool(rig.sim.pbx.calls))
    (call,) = rig.sim.pbx.calls.values()
    assert call.var("DIALER_CONNECT_TIMEOUT", "") == sent


async def test_pacing_hears_the_queues_wrapup_when_agent_complete_comes_without_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AgentComplete without channel fields (Asterisk 22.10.1: after all Hangups of the
    call) restarts the agent's wrap-up with the campaign's time after the leg's Hangup had
    started the server's default; the runner took that second WRAPUP for a re-scan and kept
    planning with the default."""
    monkeypatch.setattr("dialerd.sim.pbx.BARE_AGENT_COMPLETE_SHARE", 1.0)
    async with rig_at(tmp_path, MONDAY_10_UTC, server_kw={"wrapup_seconds": 300.0}) as rig:
        camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "4s"}))
        await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        runner = engine._runners[camp.id]
        await until(lambda: AGENTS[0] in runner.builder._wrapup, limit=15.0)
        await rig.wait_clock(0.5)  # the AgentComplete follows the Hangups within milliseconds
        left = runner.builder._wrapup[AGENTS[0]] - rig.clock.monotonic()
        assert 0 < left <= 4.0, left


# --------------------------------------------------------------------------- outcomes


async def test_connected_call_gets_screen_pop_and_the_disposition_moves_the_contact(
    rig: Rig,
) -> None:
    camp = await rig.campaign(make_spec(connect_limit="10s"))
    (cid,) = await rig.contacts(camp, live(1), first_name="Ada")
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
    pop = next(e for e in rig.events if isinstance(e, ScreenPop))
    assert (pop.agent, pop.contact.id, pop.contact.first_name) == ("a0", cid, "Ada")
    taken = await engine.disposition("a0", "success", "sale", note="bought two")
    assert taken.attempt_id == pop.attempt_id
    assert not taken.queued  # the store is there: nothing waits for it
    await until(lambda: bool(rig.finished()))
    done = rig.finished()[0]
    assert (done.result, done.status, done.status_detail) == (
        CallResult.CONNECTED,
        Status.SUCCESS,
        "sale",
    )
    assert done.next_task == "won"
    contact = await rig.store.get_contact(cid)
    tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
    assert tasks[contact.task_id] == "won" and contact.status is Status.OPEN
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is CallResult.CONNECTED and attempt.agent == "a0"
    assert attempt.answered_at is not None and attempt.connected_at is not None
    assert attempt.disposition == "sale"
    history = await rig.store.history(cid)
    assert any(h.to_status is Status.SUCCESS and h.actor == "agent:a0" for h in history)


async def test_without_a_disposition_the_wrapup_limit_applies_the_default(rig: Rig) -> None:
    camp = await rig.campaign(
        make_spec(
            connect_limit="10s",
            wrapup={"limit": "5s", "default_status": "declined", "default_detail": "no_time"},
        )
    )
    (cid,) = await rig.contacts(camp, live(1))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: bool(rig.finished()), limit=10)
    done = rig.finished()[0]
    assert (done.status, done.status_detail, done.task, done.next_task) == (
        Status.DECLINED,
        "no_time",
        "call",
        "lost",
    )
    contact = await rig.store.get_contact(cid)
    tasks = {t.id: t.name for t in await rig.store.tasks(camp.id)}
    assert tasks[contact.task_id] == "lost"


async def test_busy_contact_lands_open_for_an_automatic_retry(rig: Rig) -> None:
    camp = await rig.campaign(make_spec())
    (cid,) = await rig.contacts(camp, ["555020001"])
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: bool(rig.finished()))
    contact = await rig.store.get_contact(cid)
    assert rig.finished()[0].result is CallResult.BUSY
    assert (contact.status, contact.status_detail) == (Status.OPEN, "$follow_up_auto")
    assert contact.attempts == 1
    # the default retry policy (the daemon's documented [retry]): busy again after 10 minutes
    assert contact.due_at is not None
    assert timedelta(minutes=9) < contact.due_at - rig.clock.now() <= timedelta(minutes=10)
    # nothing to disposition: clear errors for the API
    with pytest.raises(NoSuchCall):
        await engine.disposition("a0", "success", "sale")
    with pytest.raises(UnknownAgent):
        await engine.disposition("nobody", "success", "sale")
    with pytest.raises(InvalidDisposition):
        await engine.disposition("a0", "failed", "$dnc")


async def test_abandoned_calls_are_counted_kept_across_a_restart_and_not_redialed(
    rig: Rig,
) -> None:
    # the only agent never answers: every live answer is abandoned after the connect limit
    camp = await rig.campaign(make_spec(dial={"mode": "power", "calls_per_ready_agent": 3}))
    ids = await rig.contacts(camp, live(3))
    await rig.agent("rna", "Local/rna-agent-1@sim-agents", ("camp",))
    engine = await rig.start()
    await engine.agent_login("rna")
    await until(lambda: len(rig.finished()) == 3, limit=10)
    assert {f.result for f in rig.finished()} == {CallResult.ABANDONED}
    for cid in ids:
        c = await rig.store.get_contact(cid)
        assert (c.status, c.status_detail) == (Status.OPEN, "$abandoned")
        assert c.due_at is not None and c.due_at >= rig.clock.now() + timedelta(hours=71)
    day = {w.name: w for w in engine.status().campaigns[0].abandonment}
    assert (day["day"].live_answers, day["day"].abandoned) == (3, 3)
    assert (day["rolling_30d"].live_answers, day["rolling_30d"].abandoned) == (3, 3)
    await rig.stop()
    engine = await rig.start()
    await engine.agent_login("rna")
    await rig.wait_clock(10)
    windows = {w.name: w for w in engine.status().campaigns[0].abandonment}
    assert (windows["day"].live_answers, windows["day"].abandoned) == (3, 3)
    assert (windows["rolling_30d"].live_answers, windows["rolling_30d"].abandoned) == (3, 3)
    assert len(rig.sim.originate_action_ids) == 3  # nobody redialed within the hold-off


async def test_a_crashed_daemon_restarted_mid_campaign_dials_no_contact_twice(
    tmp_path: Path, store_url: str
) -> None:
    """On SQLite and PostgreSQL (the ``store_url`` fixture runs both back ends)."""
    async with rig_at(tmp_path, MONDAY_10_UTC, url=store_url) as rig:
        await _crash_and_restart(rig)


async def _crash_and_restart(rig: Rig) -> None:
    camp = await rig.campaign(
        make_spec(dial={"mode": "power", "calls_per_ready_agent": 4}, ring_timeout="20s")
    )
    ids = await rig.contacts(camp, no_answer(12))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) == 4)
    first = set(rig.dialed())
    await rig.crash()  # 4 calls ringing, their attempts open in the store
    assert len(await rig.store.unfinished_attempts(camp.id)) == 4
    rig.events.clear()
    engine = await rig.start()
    # the agent is still in the queue on the Asterisk side; the new engine sees it there
    await until(lambda: len(rig.dialed()) >= 4)
    await rig.wait_clock(3)
    second = set(rig.dialed())
    assert not first & second  # the lost attempts are not redialed before their retry delay
    assert {a.contact_id for a in await rig.store.unfinished_attempts(camp.id)} <= second
    for cid in first:
        c = await rig.store.get_contact(cid)
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.result is CallResult.FAILED_UNKNOWN
        assert (c.status, c.status_detail) == (Status.OPEN, "$follow_up_auto")
        assert c.due_at is not None and c.due_at > rig.clock.now() + timedelta(minutes=10)
    # at no time were two calls in progress for one contact
    assert len(rig.sim.originate_action_ids) == len(first) + len(second)
    assert set(ids) >= first | second
    await rig.stop(drain=0)
    assert await rig.store.unfinished_attempts(camp.id) == []


async def test_stop_drains_calls_then_closes_the_rest_and_releases_leases(rig: Rig) -> None:
    camp = await rig.campaign(make_spec(ring_timeout="15s"))
    ids = await rig.contacts(camp, no_answer(3))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) == 1)
    t0 = rig.clock.monotonic()
    await rig.stop(drain=30)  # the ringing call ends (no answer) within the drain bound
    assert rig.clock.monotonic() - t0 < 25
    assert [f.result for f in rig.finished()] == [CallResult.NO_ANSWER]
    assert len(rig.sim.originate_action_ids) == 1
    for cid in ids:
        assert (await rig.store.get_contact(cid)).lease_holder is None


async def test_preview_dials_only_after_the_agent_accepts_and_connects_that_agent(
    rig: Rig,
) -> None:
    camp = await rig.campaign(make_spec(dial={"mode": "preview"}, connect_limit="10s"))
    ids = await rig.contacts(camp, live(2))
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: any(isinstance(e, PreviewOffered) for e in rig.events))
    offer = next(e for e in rig.events if isinstance(e, PreviewOffered))
    assert offer.agent == "a0" and offer.contact.id in ids
    await rig.wait_clock(5)
    assert rig.sim.originate_action_ids == []
    await engine.agent_login("a1")
    await until(lambda: sum(isinstance(e, PreviewOffered) for e in rig.events) == 2)
    offers = {e.agent: e.contact.id for e in rig.events if isinstance(e, PreviewOffered)}
    await engine.preview_skip("a1", offers["a1"])
    attempt = await engine.preview_accept("a0", offers["a0"])
    assert attempt is not None, (engine.status().agents, rig.server.agents.snapshot())
    await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
    pop = next(e for e in rig.events if isinstance(e, ScreenPop))
    assert (pop.agent, pop.contact.id, pop.attempt_id) == ("a0", offers["a0"], attempt)
    assert len(rig.sim.originate_action_ids) == 1
    skipped = await rig.store.get_contact(offers["a1"])
    assert skipped.due_at is not None and skipped.due_at > rig.clock.now()


async def test_a_preview_is_not_dialed_for_one_agent_while_another_holds_the_lead(
    rig: Rig,
) -> None:
    """On offer to a0, the contact cannot be reserved by anybody (the dialer leases it); a hold
    that came anyway (a1 wrote a note on it) stops the engine from dialing it for a0. The lead
    API's ``call`` (``hold=True``) holds the lead for the agent it is offered to and dials."""
    camp = await rig.campaign(make_spec(dial={"mode": "preview"}, connect_limit="10s"))
    await rig.contacts(camp, live(2))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: any(isinstance(e, PreviewOffered) for e in rig.events))
    first = next(e for e in rig.events if isinstance(e, PreviewOffered)).contact.id
    now = rig.clock.now()
    with pytest.raises(work.LeadBusy):
        await work.reserve(rig.store, first, "a1", now)
    await work.add_note(rig.store, first, "a1", now, text="my customer, I call her myself")
    with pytest.raises(LeadTaken, match="held by a1"):
        await engine.preview_accept("a0", first)
    await rig.wait_clock(2)
    assert rig.sim.originate_action_ids == []
    assert (await work.get_lead(rig.store, first)).holder == "a1"
    # the offer was withdrawn; a0 is offered the other contact, and `call` holds it for a0
    await until(lambda: sum(isinstance(e, PreviewOffered) for e in rig.events) >= 2)
    second = [e for e in rig.events if isinstance(e, PreviewOffered)][-1].contact.id
    assert second != first
    attempt = await engine.preview_accept("a0", second, hold=True)
    assert attempt is not None
    assert (await work.get_lead(rig.store, second)).holder == "a0"
    await until(lambda: rig.dialed() == [second])


async def test_a_crashing_runner_is_restarted_and_a_reload_adds_new_campaigns(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    camp = await rig.campaign(make_spec())
    await rig.contacts(camp, no_answer(3))
    await rig.agent("a0", AGENTS[0], ("camp", "late"))
    real_lease = rig.store.lease
    failures = [RuntimeError("database went away")]

    async def flaky_lease(*args: Any, **kw: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_lease(*args, **kw)

    monkeypatch.setattr(rig.store, "lease", flaky_lease)
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) == 1)
    view = engine.status().campaigns[0]
    assert view.restarts == 1 and "database went away" in (view.last_error or "")
    assert view.runner == "running" and rig.task is not None and not rig.task.done()
    # a campaign created while the daemon runs is picked up by a reload
    late = await rig.campaign(make_spec("late", dial={"mode": "power", "calls_per_ready_agent": 2}))
    (late_contact,) = await rig.contacts(late, no_answer(1, base=500))
    await engine.reload()
    assert await engine.agent_login("a0", "late") == ["late"]
    await until(lambda: late_contact in rig.dialed())


async def test_calls_lost_in_an_asterisk_restart_close_failed_unknown_and_wait_their_delay(
    rig: Rig,
) -> None:
    camp = await rig.campaign(make_spec(dial={"mode": "power", "calls_per_ready_agent": 2}))
    ids = await rig.contacts(camp, no_answer(6))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.dialed()) == 2)
    lost = set(rig.dialed())
    await rig.sim.restart()  # calls vanish without a Hangup; runtime queue members too
    await until(lambda: len(rig.finished()) >= 2, limit=10)
    assert {f.result for f in rig.finished()[:2]} == {CallResult.FAILED_UNKNOWN}
    # the engine logs its agent in again and dials on, but not the lost contacts
    await until(lambda: len(set(rig.dialed())) >= 4, limit=10)
    assert not lost & set(rig.dialed()[2:])
    for cid in lost:
        c = await rig.store.get_contact(cid)
        assert (c.status, c.status_detail) == (Status.OPEN, "$follow_up_auto")
        assert c.due_at is not None and c.due_at >= rig.clock.now() + timedelta(minutes=10)
    assert set(rig.dialed()) <= set(ids)


async def test_calls_spread_over_servers_within_each_server_limit(tmp_path: Path) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        sim2 = SimAsterisk(clock=rig.clock, seed=4)
        await sim2.start()
        limited = {
            name: AsteriskServer(
                ServerConfig(
                    name=name,
                    port=port,
                    username="dialer",
                    secret="dialerpass",
                    max_channels=2,
                    dead_peer_timeout=DEAD_PEER,
                    action_timeout=DEAD_PEER / 2,
                ),
                clock=rig.clock,
            )
            for name, port in (("east", rig.sim.port), ("west", sim2.port))
        }
        for s in limited.values():
            s.start()
        try:
            await until(lambda: all(s.ready for s in limited.values()))
            camp = await rig.campaign(
                make_spec(dial={"mode": "power", "calls_per_ready_agent": 3}, ring_timeout="60s")
            )
            await rig.contacts(camp, no_answer(10))
            await rig.agent("a0", AGENTS[0], ("camp",))
            await rig.agent("a1", AGENTS[1], ("camp",))
            settings = EngineSettings(holder="spread", agent_servers={"a0": "east", "a1": "west"})
            engine = Engine(rig.store, limited, rig.clock, settings)
            task = asyncio.create_task(engine.run())
            try:
                await until(lambda: bool(engine.status().campaigns))
                await engine.agent_login("a0")
                await engine.agent_login("a1")
                # 2 ready agents x 3 = 6 wanted; 2 lines per server = 4 placed, 2 on each
                await until(lambda: len(rig.sim.originate_action_ids) >= 2)
                await until(lambda: len(sim2.originate_action_ids) >= 2)
                await rig.wait_clock(5)
                assert len(rig.sim.originate_action_ids) == 2
                assert len(sim2.originate_action_ids) == 2
                assert engine.status().campaigns[0].calls_in_flight == 4
            finally:
                await asyncio.wait_for(engine.stop(0), 10)
                await asyncio.wait_for(task, 10)
        finally:
            for s in limited.values():
                await s.close()
            await sim2.stop()


async def test_amd_campaign_hangs_up_on_machines_and_records_them(rig: Rig) -> None:
    camp = await rig.campaign(make_spec(amd=True, connect_limit="10s"))
    (machine,) = await rig.contacts(camp, ["555050001"])
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: bool(rig.finished()), limit=10)
    done = rig.finished()[0]
    assert done.result is CallResult.MACHINE
    assert not any(isinstance(e, ScreenPop) for e in rig.events)  # never reached the agent
    c = await rig.store.get_contact(machine)
    # the default retry policy (the daemon's documented [retry]) tries a machine again in 4 h
    assert (c.status, c.status_detail) == (Status.OPEN, "$follow_up_auto")
    assert c.due_at is not None and c.due_at - rig.clock.now() > timedelta(hours=3, minutes=59)


async def test_preview_auto_accepts_after_the_configured_time(rig: Rig) -> None:
    camp = await rig.campaign(
        make_spec(dial={"mode": "preview", "preview_auto_accept": "4s"}, connect_limit="10s")
    )
    (cid,) = await rig.contacts(camp, live(1))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: any(isinstance(e, PreviewOffered) for e in rig.events))
    offer = next(e for e in rig.events if isinstance(e, PreviewOffered))
    assert offer.auto_accept_at is not None
    await until(lambda: rig.dialed() == [cid])
    dialed_at = next(
        e.at for e in rig.events if isinstance(e, CallProgressed) and e.phase == "dialing"
    )
    assert dialed_at >= offer.auto_accept_at
    await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
    assert engine.status().agents[0].state == "talking"
    # the agent's state reaches the store too (for the API and other daemons)
    await rig.wait_clock(2.5)
    assert [(a.name, a.state.value) for a in await rig.store.agents()] == [("a0", "talking")]


async def test_a_pool_batch_sends_its_originates_at_once_within_the_server_limit(
    tmp_path: Path,
) -> None:
    """Asterisk answering slowly (4 s per action) does not slow a batch to one call per reply,
    and the replies still outstanding do not let the next decision pass the server's lines."""
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        slow = AsteriskServer(
            ServerConfig(
                name="slow",
                port=rig.sim.port,
                username="dialer",
                secret="dialerpass",
                max_channels=8,
                dead_peer_timeout=DEAD_PEER,
                action_timeout=DEAD_PEER / 2,
            ),
            clock=rig.clock,
        )
        slow.start()
        try:
            await until(lambda: slow.ready)
            camp = await rig.campaign(
                make_spec(dial={"mode": "power", "calls_per_ready_agent": 6}, ring_timeout="120s")
            )
            await rig.contacts(camp, no_answer(20))
            await rig.agent("a0", AGENTS[0], ("camp",))
            await rig.agent("a1", AGENTS[1], ("camp",))
            engine = Engine(rig.store, {"slow": slow}, rig.clock, EngineSettings(holder="slow"))
            engine.add_listener(rig.events.append)
            task = asyncio.create_task(engine.run())
            try:
                await until(lambda: bool(engine.status().campaigns))
                await engine.agent_login("a0")
                await engine.agent_login("a1")
                await until(lambda: engine.status().campaigns[0].agents_by_state["ready"] == 2)
                rig.sim.set_response_delay(10.0)
                started = rig.clock.monotonic()
                # 2 ready agents x 6 = 12 wanted; the server has 8 lines. One reply awaited per
                # Originate would take 70 s for 8; the margin is wide for a loaded machine.
                await until(lambda: rig.sim.originates_received >= 8)
                assert rig.clock.monotonic() - started < 30, "one reply awaited per Originate"
                await rig.wait_clock(20)
                assert rig.sim.originates_received == 8
                assert len(set(rig.sim.originate_action_ids)) == 8
                assert len(set(rig.dialed())) == 8
                assert engine.status().campaigns[0].calls_in_flight == 8
            finally:
                rig.sim.set_response_delay(0.0)
                await asyncio.wait_for(engine.stop(0), 10)
                await asyncio.wait_for(task, 10)
        finally:
            await slow.close()


# --------------------------------------------------------------------------- shared agents


async def test_campaigns_sharing_an_agent_place_one_call_at_a_time_for_them(rig: Rig) -> None:
    """Each campaign counting the agent as its own would place two calls for one agent, and
    the answer that finds the agent taken would be abandoned."""
    for name in ("a", "b"):
        camp = await rig.campaign(make_spec(name, ring_timeout="60s", wrapup={"limit": "3s"}))
        await rig.contacts(camp, live(20, base=0 if name == "a" else 100))
    await rig.agent("a0", AGENTS[0], ("a", "b"))
    engine = await rig.start()
    assert sorted(await engine.agent_login("a0")) == ["a", "b"]
    most = 0
    for _ in range(150):
        await rig.wait_clock(1)
        most = max(most, sum(c.calls_in_flight for c in engine.status().campaigns))
    results = [f.result for f in rig.finished()]
    assert most == 1
    assert CallResult.ABANDONED not in results and results.count(CallResult.CONNECTED) >= 2


async def test_shared_agents_split_between_campaigns_and_follow_the_one_that_dials(
    rig: Rig,
) -> None:
    camps = {}
    for name in ("a", "b"):
        camps[name] = await rig.campaign(make_spec(name, ring_timeout="120s"))
        await rig.contacts(camps[name], no_answer(20, base=0 if name == "a" else 100))
    for i in range(4):
        await rig.agent(f"a{i}", AGENTS[i], ("a", "b"))
    engine = await rig.start()
    for i in range(4):
        await engine.agent_login(f"a{i}")
    await until(lambda: len(rig.sim.originate_action_ids) >= 4)
    await rig.wait_clock(5)
    flight = {c.name: c.calls_in_flight for c in engine.status().campaigns}
    assert flight == {"a": 2, "b": 2}  # one call per agent, the agents split evenly
    # a is disabled: its calls ring on, and b takes its agents (one call each)
    await rig.store.set_campaign_status(camps["a"].id, CampaignStatus.DISABLED, rig.clock.now())
    await engine.reload()
    await until(lambda: sum(c.calls_in_flight for c in engine.status().campaigns) == 6)
    await rig.wait_clock(5)
    flight = {c.name: c.calls_in_flight for c in engine.status().campaigns}
    assert flight == {"a": 2, "b": 4}


async def test_an_answer_goes_to_an_agent_its_campaign_dials_for(rig: Rig) -> None:
    """Asterisk offers a caller to any free member of the queue; an agent in another campaign's
    pool sits behind a higher penalty in this campaign's queue, so the caller goes to the agent
    the call was placed for and the other campaign's call still finds theirs."""
    for name in ("a", "b"):
        camp = await rig.campaign(make_spec(name, ring_timeout="60s", wrapup={"limit": "3s"}))
        base = 0 if name == "a" else 50000
        # the simulator's own callee model: answers after varied delays, talks of varied length
        await rig.contacts(camp, [f"+49301{base + i:06d}" for i in range(200)])
    for i in range(2):
        await rig.agent(f"a{i}", AGENTS[i], ("a", "b"))
    engine = await rig.start()
    for i in range(2):
        await engine.agent_login(f"a{i}")
    most = 0
    for _ in range(200):
        await rig.wait_clock(1)
        most = max(most, sum(c.calls_in_flight for c in engine.status().campaigns))
    results = [f.result for f in rig.finished()]
    assert sorted(a.paced_by or "" for a in engine.status().agents) == ["a", "b"]
    assert most == 2
    assert CallResult.ABANDONED not in results and results.count(CallResult.CONNECTED) >= 2


async def test_the_day_window_ends_at_local_midnight_after_a_dst_change(tmp_path: Path) -> None:
    """Berlin springs forward at 01:00 UTC on 2026-03-29: that day has 23 hours. A runner
    started before the change ends its day window at the next local midnight (22:00 UTC),
    not an hour later as its old alignment would."""
    start = datetime(2026, 3, 29, 0, 59, 0, tzinfo=UTC)
    async with rig_at(tmp_path, start) as rig:
        spec = make_spec(timezone="Europe/Berlin", dial={"mode": "progressive"})
        spec = spec.model_copy(
            update={"dial": spec.dial.model_copy(update={"abandonment_windows": ["day"]})}
        )
        await rig.campaign(spec)
        engine = await rig.start()
        await until(lambda: rig.clock.now() >= start + timedelta(minutes=2), limit=30.0)

        def day_ends_at() -> datetime:
            (view,) = engine.status().campaigns
            (day,) = [w for w in view.abandonment if w.name == "day"]
            return rig.clock.now() + timedelta(seconds=day.seconds_left)

        midnight = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 00:00 on the 30th in Berlin
        await until(lambda: abs((day_ends_at() - midnight).total_seconds()) < 60, limit=10.0)


async def test_a_lost_link_marks_the_agents_state_not_known_and_a_lost_call_has_no_end(
    tmp_path: Path,
) -> None:
    """An AMI outage: the agent on a call keeps the state last seen (talking, a state of the
    vocabulary) but is marked ``unknown_since`` the loss (engine view, MQTT event, the
    ``dialerd_agents_state_unknown`` gauge), so nobody reads it as talking on for a call the
    dialer has closed ``failed_unknown``; that attempt records no hang-up time (its end was
    not seen), so no talk time is made up in the reports; with the link back the agent shows
    what Asterisk says and the mark is gone."""
    from dialerd.daemon.metrics import Metrics
    from dialerd.daemon.observe import MetricsListener
    from dialerd.domain.agentwork import ReportFilter
    from dialerd.domain.enums import AgentState
    from dialerd.engine import AgentStateChanged
    from dialerd.store.agentwork import report

    # half the usual speed: the 20 s talk (1 s real at SPEED) must still be on when the link
    # is cut, on a loaded machine too
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=SPEED / 2) as rig:
        camp = await rig.campaign(make_spec(connect_limit="10s"))
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        metrics = Metrics()
        engine.add_listener(MetricsListener(metrics))

        def not_known(state: str) -> tuple[float | None, float | None]:
            """(agents of sim1 whose state is not known, agents counted in ``state``)"""
            return metrics.registry.get_sample_value(
                "dialerd_agents_state_unknown", {"server": "sim1"}
            ), metrics.registry.get_sample_value("dialerd_agents", {"state": state})

        await engine.agent_login("a0")
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
        (view,) = engine.status().agents
        assert (view.state, view.unknown_since) == ("talking", None)
        sim = rig.sim
        sim.set_dead(True)
        await sim.drop_connections()
        await until(lambda: engine.status().links["sim1"] != "ready")
        (view,) = engine.status().agents
        assert view.state == "talking"  # the state last seen, never a made-up one
        assert view.unknown_since is not None
        assert not hasattr(view, "last_state")
        (camp_view,) = engine.status().campaigns
        assert camp_view.agents_by_state["talking"] == 1
        assert set(camp_view.agents_by_state) == {s.value for s in AgentState}
        (lost,) = [
            e
            for e in rig.events
            if isinstance(e, AgentStateChanged) and e.unknown_since is not None
        ]
        assert (lost.agent, lost.state, lost.unknown_since) == (
            "a0",
            AgentState.TALKING,
            view.unknown_since,
        )
        assert not_known("talking") == (1.0, 1.0)
        # the tracker gives up on the call after its in-doubt limit (60 s), the runner writes it
        # after the wrap-up limit; the agent is still marked, not shown as currently talking
        await until(lambda: len(rig.finished()) == 1, limit=30)
        assert engine.status().links["sim1"] != "ready"
        assert engine.status().agents[0].unknown_since == view.unknown_since

        async def stored_state() -> AgentState:
            (agent,) = await rig.store.agents()
            return agent.state

        for _ in range(200):
            if await stored_state() is AgentState.TALKING:
                break
            await asyncio.sleep(0.02)
        assert await stored_state() is AgentState.TALKING  # the state last seen, as shown
        # the agent talked to the person (so the call counts as connected and gets the wrap-up
        # default), but when it ended is not known
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.result is CallResult.CONNECTED
        assert "then link to Asterisk lost" in (attempt.cause or "")
        assert attempt.connected_at is not None
        assert attempt.hungup_at is None  # not the time the dialer gave up
        figures = await report(rig.store, ReportFilter(campaign_id=camp.id))
        assert figures.totals.calls == 1
        assert figures.totals.talk_seconds == 0.0
        sim.set_dead(False)
        await until(lambda: engine.status().links["sim1"] == "ready", limit=30)
        await until(lambda: engine.status().agents[0].unknown_since is None)
        (view,) = engine.status().agents
        assert view.state != "talking"  # the resync found the talk over
        assert not_known(view.state) == (0.0, 1.0)
        assert not_known("talking") == (0.0, 0.0)
        last = [e for e in rig.events if isinstance(e, AgentStateChanged)][-1]
        assert last.unknown_since is None and last.state.value == view.state
        for _ in range(200):
            if (await stored_state()).value == engine.status().agents[0].state:
                break
            await asyncio.sleep(0.02)
        assert (await stored_state()).value == engine.status().agents[0].state != "talking"
