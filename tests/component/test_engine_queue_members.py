"""Queue members and the daemon's life: Asterisk keeps runtime queue members when the dialer
stops, and offers calls to them. At a clean stop the engine takes the agents it logged in out
of the queues (QueueRemove); at start it reconciles what a previous run left behind (a crash):
its own agents are adopted (logged in, removed at the next clean stop), any other member of a
campaign queue is removed, members of other queues are left alone. Against SimAsterisk over
TCP; its QueueRemove answers as Asterisk 22.10.1 did (transcript 03-agents).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, make_spec, rig_at

STRAY = "Local/agent-5@sim-agents"  # an interface no agent of the daemon has


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


def members(rig: Rig) -> set[tuple[str, str]]:
    return {(m.queue, m.interface) for m in rig.sim.queue_members()}


async def test_a_clean_stop_takes_the_agents_out_of_the_queues(rig: Rig) -> None:
    await rig.campaign(make_spec("camp"))
    await rig.agent("dora", AGENTS[0], ("camp",))
    await rig.agent("emil", AGENTS[1], ("camp",))
    engine = await rig.start()
    await engine.agent_login("dora")
    await engine.agent_login("emil", paused=True)
    # someone else's member of another queue: not the daemon's to remove
    await rig.server.queue_add("support", STRAY, "front desk")
    ours = {
        ("q-camp", AGENTS[0]),
        ("q-camp.dora", AGENTS[0]),
        ("q-camp", AGENTS[1]),
        ("q-camp.emil", AGENTS[1]),
    }
    assert members(rig) == ours | {("support", STRAY)}

    await rig.stop()
    assert await engine.leave_queues(5.0) == 4
    assert members(rig) == {("support", STRAY)}
    assert not engine.logged_in("dora") and not engine.logged_in("emil")
    assert await engine.leave_queues(5.0) == 0  # nothing left to remove


async def test_a_start_adopts_its_agents_a_crash_left_and_removes_strangers(rig: Rig) -> None:
    await rig.campaign(make_spec("camp"))
    await rig.campaign(make_spec("other"))
    await rig.agent("dora", AGENTS[0], ("camp",))
    await rig.agent("otto", AGENTS[2], ("other",))
    engine = await rig.start()
    await engine.agent_login("dora")
    await rig.crash()  # no clean stop: Asterisk keeps dora in the queues
    # meanwhile: a stranger put in the campaign's queue by hand, dora in a campaign she does
    # not take, and someone in a queue that is none of the daemon's campaigns'
    await rig.server.queue_add("q-camp", STRAY, "stray")
    await rig.server.queue_add("q-other", AGENTS[0], "dora")
    await rig.server.queue_add("support", AGENTS[3], "front desk")

    engine = await rig.start()
    found = await engine.reconcile_queues()
    assert sorted(found.adopted) == [
        ("sim1", "q-camp", AGENTS[0]),
        ("sim1", "q-camp.dora", AGENTS[0]),
    ]
    assert sorted(found.removed) == [("sim1", "q-camp", STRAY), ("sim1", "q-other", AGENTS[0])]
    assert found.left == []
    assert members(rig) == {
        ("q-camp", AGENTS[0]),
        ("q-camp.dora", AGENTS[0]),
        ("support", AGENTS[3]),
    }
    assert engine.logged_in("dora")  # adopted: counted as logged in by this run
    assert not engine.logged_in("otto")

    await rig.stop()
    assert await engine.leave_queues(5.0) == 2  # the adopted memberships go at a clean stop
    assert members(rig) == {("support", AGENTS[3])}
