"""A reload gives the agents already logged in the campaigns that became theirs.

A campaign created while the daemon runs (``POST /api/v1/campaigns`` reloads the engine) gets
the logged-in agents that may take it at once, in their pause state and pool, as a log-in
would; so does a campaign whose queue changed. Against SimAsterisk over TCP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, make_spec, no_answer, rig_at, until

from dialerd.engine import Engine
from dialerd.engine.status import AgentView, CampaignView


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


def view(engine: Engine, campaign: str) -> CampaignView:
    return next(c for c in engine.status().campaigns if c.name == campaign)


def agent(engine: Engine, name: str) -> AgentView:
    return next(a for a in engine.status().agents if a.name == name)


async def test_agents_taking_every_campaign_join_one_created_while_running(rig: Rig) -> None:
    # [[agents]] naming neither campaigns nor skills: every campaign, also one created later
    await rig.campaign(make_spec("camp"))  # nothing to dial: it leaves its agents to others
    await rig.agent("dora", AGENTS[0], ())
    await rig.agent("emil", AGENTS[1], ())
    engine = await rig.start()
    assert await engine.agent_login("dora") == ["camp"]
    assert await engine.agent_login("emil", paused=True) == ["camp"]
    await until(lambda: view(engine, "camp").agents_by_state["paused"] == 1)

    late = await rig.campaign(make_spec("late", ring_timeout="60s"))
    ids = await rig.contacts(late, no_answer(5))
    await engine.reload()  # what POST /api/v1/campaigns does after storing the campaign

    await until(lambda: "late" in {c.name for c in engine.status().campaigns})
    await until(lambda: view(engine, "late").agents_by_state["ready"] == 1)
    assert view(engine, "late").agents_by_state["paused"] == 1  # on a break, still on it
    assert set(agent(engine, "dora").campaigns) == {"camp", "late"}
    assert set(agent(engine, "emil").campaigns) == {"camp", "late"}
    members = {(m.queue, m.interface): m.paused for m in rig.sim.queue_members()}
    assert members[("q-late", AGENTS[0])] is False
    assert members[("q-late", AGENTS[1])] is True
    # the new campaign dials for the ready agent (one call: progressive), not the paused one
    await until(lambda: agent(engine, "dora").paced_by == "late")
    await until(lambda: bool(rig.dialed()))
    await rig.wait_clock(5)
    assert len(rig.dialed()) == 1 and rig.dialed()[0] in ids
    assert view(engine, "late").calls_in_flight == 1


async def test_an_agent_naming_a_campaign_created_later_or_whose_queue_changed_joins_it(
    rig: Rig,
) -> None:
    await rig.campaign(make_spec("camp"))
    await rig.agent("dora", AGENTS[0], ("camp", "late"))
    await rig.agent("otto", AGENTS[2], ("camp",))
    engine = await rig.start()
    await engine.agent_login("dora")
    await engine.agent_login("otto")
    late = await rig.campaign(make_spec("late", ring_timeout="60s"))
    await rig.contacts(late, no_answer(3))
    await engine.reload()
    await until(lambda: view(engine, "late").agents_by_state["ready"] == 1)
    queues = {(m.queue, m.interface) for m in rig.sim.queue_members()}
    assert ("q-late", AGENTS[0]) in queues and ("q-late.dora", AGENTS[0]) in queues
    assert not any(q.startswith("q-late") for q, iface in queues if iface == AGENTS[2])
    await until(lambda: bool(rig.dialed()))

    # the campaign's queue renamed: its agents follow at the reload
    await rig.store.update_campaign(
        make_spec("late", ring_timeout="60s", queue="sales-2"), rig.clock.now()
    )
    await engine.reload()
    await until(lambda: view(engine, "late").agents_by_state["ready"] >= 1, limit=10)
    queues = {(m.queue, m.interface) for m in rig.sim.queue_members()}
    assert ("sales-2", AGENTS[0]) in queues and ("sales-2.dora", AGENTS[0]) in queues


async def test_a_reload_does_not_put_an_agent_back_into_a_campaign_they_left(rig: Rig) -> None:
    await rig.campaign(make_spec("camp"))
    await rig.campaign(make_spec("other"))
    await rig.agent("dora", AGENTS[0], ())
    engine = await rig.start()
    assert sorted(await engine.agent_login("dora")) == ["camp", "other"]
    await engine.agent_logout("dora", "other")
    await rig.campaign(make_spec("late"))
    await engine.reload()
    await until(lambda: view(engine, "late").agents_by_state["ready"] == 1)
    assert set(agent(engine, "dora").campaigns) == {"camp", "late"}
