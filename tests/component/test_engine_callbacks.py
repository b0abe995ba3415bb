"""Personal callbacks and agent reservations in the pool dial modes, against SimAsterisk.

A personal follow-up (``open`` + ``$follow_up_personal``) is booked for one agent at one time;
in progressive, power and predictive modes the engine must dial it for that agent only, when it
is due and the agent is ready, and must not let it inflate the pool's pacing. A lead an agent
holds (issue 9 reservation) is never dialed for anybody else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, no_answer, rig_at, until

from dialerd.domain.changes import Transition
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Campaign
from dialerd.engine import CallProgressed, Engine, ScreenPop
from dialerd.store import agentwork as work


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


async def book_callback(rig: Rig, camp: Campaign, contact_id: int, agent: str, in_s: float) -> None:
    call_task = (await rig.store.tasks(camp.id))[0].id
    now = rig.clock.now()
    await rig.store.apply_transition(
        Transition(
            contact_id=contact_id,
            actor=f"agent:{agent}",
            at=now,
            task_id=call_task,
            status=Status.OPEN,
            status_detail=StatusDetail.FOLLOW_UP_PERSONAL.value,
            due_at=now + timedelta(seconds=in_s),
            follow_up_agent=agent,
        )
    )


def pops(rig: Rig) -> list[ScreenPop]:
    return [e for e in rig.events if isinstance(e, ScreenPop)]


async def test_a_due_callback_is_dialed_for_its_agent_only_and_not_before_its_time(
    rig: Rig,
) -> None:
    camp = await rig.campaign(make_spec(connect_limit="10s"))
    (cid,) = await rig.contacts(camp, live(1))
    await book_callback(rig, camp, cid, "a1", in_s=20)
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await engine.agent_login("a1")
    await rig.wait_clock(10)
    assert rig.sim.originate_action_ids == [], "dialed before the callback was due"
    await until(lambda: bool(pops(rig)))
    assert rig.clock.now() >= MONDAY_10_UTC + timedelta(seconds=20)
    assert [(p.agent, p.contact.id) for p in pops(rig)] == [("a1", cid)]
    assert rig.dialed() == [cid]


async def test_a_callback_waits_for_its_absent_agent_and_never_goes_to_another(rig: Rig) -> None:
    camp = await rig.campaign(make_spec(connect_limit="10s"))
    (cid,) = await rig.contacts(camp, live(1))
    await book_callback(rig, camp, cid, "a1", in_s=0)
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: engine.status().campaigns[0].callbacks_waiting == {"a1": 1})
    await rig.wait_clock(10)
    assert rig.sim.originate_action_ids == []
    await engine.agent_login("a1")
    await until(lambda: bool(pops(rig)))
    assert [(p.agent, p.contact.id) for p in pops(rig)] == [("a1", cid)]
    await until(lambda: engine.status().campaigns[0].callbacks_waiting == {})


@pytest.mark.parametrize(
    ("dial", "expected"),
    [
        # the callback + one pool call for the other ready agent
        ({"mode": "progressive"}, 2),
        # the callback + 1 free agent x 2 (the reserved agent is no base for 2 more pool calls)
        ({"mode": "power", "calls_per_ready_agent": 2.0}, 3),
    ],
)
async def test_an_agent_reserved_for_a_callback_is_not_free_for_pool_calls(
    rig: Rig, dial: dict[str, object], expected: int
) -> None:
    camp = await rig.campaign(make_spec(dial=dial, ring_timeout="60s"))
    callback, *pool = await rig.contacts(camp, no_answer(10))
    await book_callback(rig, camp, callback, "a0", in_s=0)
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await engine.agent_login("a1")
    await until(lambda: len(rig.sim.originate_action_ids) >= expected)
    await rig.wait_clock(6)  # well within the ring timeout: nothing has ended
    assert len(rig.sim.originate_action_ids) == expected
    dialed = rig.dialed()
    assert callback in dialed and len(set(dialed) & set(pool)) == expected - 1


async def test_a_lead_held_by_another_agent_is_not_dialed(rig: Rig) -> None:
    camp = await rig.campaign(make_spec(ring_timeout="60s"))
    held, free = await rig.contacts(camp, no_answer(2))
    await work.reserve(rig.store, held, "a1", rig.clock.now())
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: bool(rig.dialed()))
    await rig.wait_clock(6)
    assert rig.dialed() == [free]


def connected(rig: Rig) -> list[tuple[str | None, int]]:
    """(agent, contact) of each call connected to an agent, in order."""
    return [
        (e.agent, e.contact_id)
        for e in rig.events
        if isinstance(e, CallProgressed) and e.phase == "connected"
    ]


@pytest.mark.parametrize(
    "dial",
    [
        {"mode": "progressive"},
        {"mode": "predictive"},  # two agents: too few for statistics -> progressive
        {"mode": "power", "calls_per_ready_agent": 3.0},
    ],
)
async def test_an_agent_whose_callback_rings_takes_no_pool_call_meanwhile(
    rig: Rig, dial: dict[str, object]
) -> None:
    # the pool's numbers answer after 2 s, the callback's after 8.7 s (the simulator's plan for
    # it with seed 3): pool calls reach the queue while the callback rings
    camp = await rig.campaign(make_spec(dial=dial, connect_limit="10s"))
    callback, *pool = await rig.contacts(camp, ["+493055500133", *live(8)])
    await book_callback(rig, camp, callback, "a0", in_s=0)
    await rig.agent("a0", AGENTS[0], ("camp",))
    await rig.agent("a1", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")  # a0 first: the queue's rrmemory would offer it a call first
    await engine.agent_login("a1")
    await until(lambda: ("a0", callback) in connected(rig))
    while_ringing = connected(rig)[: connected(rig).index(("a0", callback))]
    assert [c for a, c in while_ringing if a == "a0"] == [], "a pool call took the callback's agent"
    # the pool is served meanwhile by a1 (under load its first connect can come just after the
    # callback's: wait for it rather than require it inside the ring)
    await until(lambda: any(a == "a1" and c in pool for a, c in connected(rig)), limit=15)
    # the hold ends with the callback: a0 takes pool calls again afterwards
    queue = rig.sim.pbx.queues["q-camp"]
    await until(lambda: callback in [f.contact_id for f in rig.finished()], limit=15)
    await until(lambda: not queue.members[AGENTS[0]].paused)
    await until(lambda: any(a == "a0" and c in pool for a, c in connected(rig)), limit=15)


async def ring_a_callback_for_a0(rig: Rig, ring_timeout: str) -> tuple[Engine, int]:
    """Agent a0 logged in with a due callback whose call (never answered) is ringing."""
    camp = await rig.campaign(make_spec(ring_timeout=ring_timeout))
    (callback,) = await rig.contacts(camp, no_answer(1))
    await book_callback(rig, camp, callback, "a0", in_s=0)
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: rig.dialed() == [callback])
    return engine, callback


async def test_an_agent_held_for_a_ringing_callback_is_released_when_the_engine_stops(
    rig: Rig,
) -> None:
    engine, callback = await ring_a_callback_for_a0(rig, ring_timeout="60s")
    members = rig.sim.pbx.queues["q-camp"].members
    assert members[AGENTS[0]].paused, "the agent was not held out of the pool's queue"
    assert not rig.sim.pbx.queues["q-camp.a0"].members[AGENTS[0]].paused
    await rig.stop()
    assert not members[AGENTS[0]].paused, "the engine stopped with the agent still held"


async def test_a_break_taken_while_the_callback_rings_outlasts_the_hold(rig: Rig) -> None:
    engine, callback = await ring_a_callback_for_a0(rig, ring_timeout="15s")
    members = rig.sim.pbx.queues["q-camp"].members
    assert members[AGENTS[0]].paused
    await engine.agent_pause("a0", True, "lunch")
    await until(lambda: callback in [f.contact_id for f in rig.finished()], limit=15)
    await rig.wait_clock(3)
    assert members[AGENTS[0]].paused and members[AGENTS[0]].paused_reason == "lunch"
    assert rig.sim.pbx.queues["q-camp.a0"].members[AGENTS[0]].paused
    await engine.agent_pause("a0", False)
    await until(lambda: not members[AGENTS[0]].paused)


async def test_a_callback_of_another_campaign_takes_the_shared_agent_from_its_pool(
    rig: Rig,
) -> None:
    pool = await rig.campaign(make_spec("a", ring_timeout="120s"))
    await rig.contacts(pool, no_answer(5))
    camp = await rig.campaign(make_spec("b", connect_limit="10s"))
    (cid,) = await rig.contacts(camp, live(1, base=100))
    await book_callback(rig, camp, cid, "a0", in_s=20)
    await rig.agent("a0", AGENTS[0], ("a", "b"))
    engine = await rig.start()
    await engine.agent_login("a0")
    await until(lambda: len(rig.sim.originate_action_ids) == 1)
    assert [a.paced_by for a in engine.status().agents] == ["a"]  # b has nothing to dial yet
    await until(lambda: bool(pops(rig)))
    assert [(p.agent, p.contact.id) for p in pops(rig)] == [("a0", cid)]
    # b took the agent when its callback came due: a no longer dials for them
    assert [a.paced_by for a in engine.status().agents] == ["b"]
