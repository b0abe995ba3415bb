"""A campaign with nothing to dial next to one that has contacts, sharing their agents, through
real TCP against the simulated Asterisk, in accelerated time (see test_engine_runner).

An agent in both queues is in one campaign's pacing pool at a time (dialerd.engine.pools): a
campaign without a contact to call must not keep any of the shared team in its pool, or the
campaign that has contacts cannot dial for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, rig_at, until

from dialerd.domain.model import Campaign
from dialerd.engine import Engine


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
    await rig.wait_clock(5)  # the empty campaign's first lease at the start
    held = []
    for _ in range(150):
        await rig.wait_clock(1)
        held.append(_paced_by(engine, "b"))
    assert held == [0] * len(held)
    assert _paced_by(engine, "a") == 4


async def test_a_campaign_given_contacts_takes_its_share_within_seconds(rig: Rig) -> None:
    """Contacts imported into the empty campaign: it looks again every few seconds, and the
    agents move to it at the end of their talks, as they do to even out the pools."""
    engine, b = await _two_campaigns(rig)
    await rig.wait_clock(30)
    assert _paced_by(engine, "b") == 0
    start = rig.clock.monotonic()
    ids = set(await rig.contacts(b, live(50, base=5000)))
    await until(lambda: _paced_by(engine, "b") >= 2 and bool(ids & set(rig.dialed())))
    took = rig.clock.monotonic() - start
    # its next look (within 5 s), then the end of the talks under way (2 s ring, 20 s talk,
    # 3 s wrap-up): 22 to 24 s seen
    assert took < 35
