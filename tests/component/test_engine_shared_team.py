"""``min_agents_predictive`` for campaigns that share their agents, through real TCP against
the simulated Asterisk, in accelerated time (see test_engine_runner).

Campaigns sharing agents each dial for a share of them (their pacing pools), but a live answer
that finds none of its campaign's own agents free goes to any free agent of the campaign's
queue: what the minimum guards (answers evening out over enough agents) is the team's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, make_spec, no_answer, rig_at, until

from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt, Campaign


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


async def _history(rig: Rig, camp: Campaign, base: int) -> None:
    """Yesterday's 40 finished attempts (a quarter answered, 60 s talks): enough samples for
    predictive from the start."""
    phones = no_answer(40, base=base)
    contacts = await rig.contacts(camp, phones)
    task = (await rig.store.tasks(camp.id))[0]
    start = rig.clock.now() - timedelta(days=1)
    for i, cid in enumerate(contacts):
        t0 = start + timedelta(minutes=i)
        answered = i % 4 == 0
        await rig.store.record_attempt(
            Attempt(
                id=f"old-{camp.name}-{i}",
                campaign_id=camp.id,
                contact_id=cid,
                task_id=task.id,
                phone=phones[i],
                originated_at=t0,
                answered_at=t0 + timedelta(seconds=3) if answered else None,
                connected_at=t0 + timedelta(seconds=3) if answered else None,
                hungup_at=t0 + timedelta(seconds=63 if answered else 25),
                result=CallResult.CONNECTED if answered else CallResult.NO_ANSWER,
            )
        )


async def test_campaigns_sharing_a_team_above_the_minimum_pace_predictively(rig: Rig) -> None:
    """Six agents shared by two predictive campaigns (minimum 5): each paces for three of them,
    and its calls that find those three busy go to the other three. Checked against its share,
    each fell back to progressive (one call per ready agent: three in flight each) although
    its answers even out over six agents; checked against the team, each dials ahead."""
    for name, base in (("a", 0), ("b", 5000)):
        camp = await rig.campaign(make_spec(name, dial={"mode": "predictive"}, ring_timeout="25s"))
        await _history(rig, camp, base + 100)
        await rig.contacts(camp, no_answer(60, base=base))
    for i in range(6):
        await rig.agent(f"a{i}", f"Local/agent-{i + 1}@sim-agents", ("a", "b"))
    assert AGENTS[0] == "Local/agent-1@sim-agents"
    engine = await rig.start()
    for i in range(6):
        await engine.agent_login(f"a{i}")
    await until(lambda: sum(c.calls_in_flight for c in engine.status().campaigns) >= 6)
    await rig.wait_clock(5)
    views = {c.name: c for c in engine.status().campaigns}
    pools = sorted(a.paced_by or "" for a in engine.status().agents)
    assert pools == ["a", "a", "a", "b", "b", "b"]
    for view in views.values():
        decision = view.last_decision
        assert decision is not None
        assert (decision.ready, decision.shared_agents, decision.team) == (3, 3, 6)
        # nobody answers: every agent is still ready, and predictive has more calls up
        assert view.calls_in_flight > 3, view
