"""A campaign with nothing to dial next to one that has contacts, sharing their agents, through
real TCP against the simulated Asterisk, in accelerated time (see test_engine_runner).

An agent in both queues is in one campaign's pacing pool at a time (dialerd.engine.pools): a
campaign without a contact to call must not keep any of the shared team in its pool, or the
campaign that has contacts cannot dial for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, rig_at, until

from dialerd.domain.enums import AgentState
from dialerd.domain.model import Campaign
from dialerd.engine import AgentStateChanged, Engine, EngineEvent


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


async def _two_campaigns(rig: Rig) -> tuple[Engine, Campaign]:
    """``a`` with live contacts (20 s talks, 3 s wrap-up), ``b`` with none; four agents in both
    queues, logged in. Returns the engine and ``b``."""
    a = await rig.campaign(make_spec("a", ring_timeout="60s", wrapup={"limit": "3s"}))
    await rig.contacts(a, live(300))
    b = await rig.campaign(make_spec("b", ring_timeout="60s", wrapup={"limit": "3s"}))
    for i in range(4):
        await rig.agent(f"a{i}", AGENTS[i], ("a", "b"))
    engine = await rig.start()
    for i in range(4):
        await engine.agent_login(f"a{i}")
    return engine, b


def _paced_by(engine: Engine, name: str) -> int:
    return sum(1 for a in engine.status().agents if a.paced_by == name)


async def test_a_campaign_without_contacts_holds_none_of_the_shared_agents(rig: Rig) -> None:
    """It left them for 30 s after an empty lease, then took them back at the end of their
    talks, and kept them through their wrap-up until an empty lease again: two of the four
    agents, four seconds in every fifty, were paced by the empty campaign, not dialed for."""
    engine, _ = await _two_campaigns(rig)
    # Until its first look for contacts (its first pacing pass) the empty campaign does not
    # know it has none, and takes its share of the agents logging in; the engine's next round
    # of the pools gives them back. On the accelerated clock that pass came after 5 s or not,
    # by the machine's load: waited for, not timed.
    await until(lambda: _looked(engine, "b") and _paced_by(engine, "b") == 0)
    held = []
    for _ in range(150):
        await rig.wait_clock(1)
        held.append(_paced_by(engine, "b"))
    assert held == [0] * len(held)
    assert _paced_by(engine, "a") == 4


async def test_a_campaign_given_contacts_takes_its_share_at_the_end_of_the_talks(
    rig: Rig,
) -> None:
    """Contacts imported into the empty campaign as two agents start a talk: it finds them at
    its next look (every few seconds), the first two agents to end their talk move to it, as
    they do to even out the pools, and it dials for them after their wrap-up.

    Counted in talks, not seconds: by the clock it took 22-24 s, or a whole round more when a
    talk ended just before the look (that agent moves at the end of its next talk), and where
    in their talks the agents were when the contacts came depended, at 20x, on the machine's
    load."""
    engine, b = await _two_campaigns(rig)
    await rig.wait_clock(30)
    assert _paced_by(engine, "b") == 0
    seen = len(rig.events)
    await until(lambda: any(_talk_starts(rig.events[seen:])))  # the talks last 20 s from here
    seen = len(rig.events)
    ids = set(await rig.contacts(b, live(50, base=5000)))
    moved: dict[str, int] = {}
    """Agent -> talks they had ended since the import when the campaign took them."""

    def took_its_share() -> bool:
        ended = Counter(
            e.agent
            for e in rig.events[seen:]
            if isinstance(e, AgentStateChanged) and e.previous is AgentState.TALKING
        )
        for a in engine.status().agents:
            if a.paced_by == "b":
                moved.setdefault(a.name, ended[a.name])
        return len(moved) >= 2 and bool(ids & set(rig.dialed()))

    await until(took_its_share)
    assert moved == dict.fromkeys(moved, 1)  # each at the end of the talk under way


def _talk_starts(events: list[EngineEvent]) -> list[str]:
    return [
        e.agent
        for e in events
        if isinstance(e, AgentStateChanged)
        and e.state is AgentState.TALKING
        and e.previous is not AgentState.TALKING
    ]


def _looked(engine: Engine, name: str) -> bool:
    """The campaign has made a pacing decision, so it has looked for contacts."""
    return any(c.name == name and c.last_decision is not None for c in engine.status().campaigns)
