"""How long the engine lets an unanswered call ring: a predictive campaign whose callees answer
early gives up at ``dial.min_ring`` (15 s, the legal minimum); others ring ``ring_timeout``.

Through real TCP against the simulated Asterisk, in accelerated time (see test_engine_runner).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, make_spec, no_answer, rig_at, until

from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt, Campaign


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


async def _history(rig: Rig, camp: Campaign) -> None:
    """Yesterday's 40 finished attempts: 10 answered after 3 s, 30 rang out at 25 s. (Their
    contacts are still open and may be dialed again today: their numbers now ring out too.)"""
    phones = no_answer(40, base=9000)
    contacts = await rig.contacts(camp, phones)
    task = (await rig.store.tasks(camp.id))[0]
    start = rig.clock.now() - timedelta(days=1)
    for i, cid in enumerate(contacts):
        t0 = start + timedelta(minutes=i)
        answered = i < 10
        await rig.store.record_attempt(
            Attempt(
                id=f"old-{i}",
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


async def _start(rig: Rig, dial: dict[str, Any]) -> None:
    """Start dialing a campaign of no-answer numbers (with yesterday's history)."""
    camp = await rig.campaign(make_spec(dial=dial, ring_timeout="25s"))
    await _history(rig, camp)
    await rig.contacts(camp, no_answer(6))
    await rig.agent("a0", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("a0")


async def _rang(rig: Rig, dial: dict[str, Any]) -> list[float]:
    """Seconds each of this campaign's new no-answer calls rang before it was given up."""
    await _start(rig, dial)
    await until(lambda: len(_no_answers(rig)) >= 2, limit=15.0)
    out = []
    for a in _no_answers(rig):
        assert a.originated_at is not None and a.hungup_at is not None
        out.append((a.hungup_at - a.originated_at).total_seconds())
    return out


def _no_answers(rig: Rig) -> list[Attempt]:
    return [
        e.attempt
        for e in rig.finished()
        if e.result is CallResult.NO_ANSWER and not e.attempt.id.startswith("old-")
    ]


async def test_a_predictive_campaign_with_early_answerers_gives_up_at_min_ring(rig: Rig) -> None:
    rang = await _rang(rig, {"mode": "predictive", "min_agents_predictive": 1})
    # min_ring (15 s) of ringing, plus the allowance for the time before the phone rings, which
    # Asterisk's Originate timeout includes: 18 s from the dial, not the full 25 s
    assert rang and all(17.0 <= s < 21.0 for s in rang), rang


@pytest.mark.parametrize(
    "dial",
    [
        {"mode": "progressive"},
        {"mode": "predictive", "min_agents_predictive": 1, "min_ring": "25s"},
    ],
)
async def test_other_modes_and_a_min_ring_at_the_timeout_ring_the_full_timeout(
    rig: Rig, dial: dict[str, Any]
) -> None:
    rang = await _rang(rig, dial)
    assert rang and all(s >= 24.0 for s in rang), rang


async def _originate_timeouts(rig: Rig) -> list[float]:
    """The Originate ``Timeout`` (seconds) the simulated Asterisk received for the calls to
    no-answer numbers ringing now."""

    def ringing() -> list[float]:
        return [c.timeout for c in rig.sim.pbx.calls.values() if c.number.startswith("55503")]

    await until(lambda: bool(ringing()), limit=15.0)
    return ringing()


PREDICTIVE = {"mode": "predictive", "min_agents_predictive": 1}


async def test_the_short_ring_allows_the_servers_post_dial_delay(tmp_path: Path) -> None:
    """The time before the phone rings is the trunk's ([[asterisk]] ``post_dial_delay``); it
    was a constant 3 s for every server."""
    async with rig_at(tmp_path, MONDAY_10_UTC, server_kw={"post_dial_delay": 0.5}) as rig:
        await _start(rig, PREDICTIVE)
        timeouts = await _originate_timeouts(rig)
        assert timeouts and all(t == 15.5 for t in timeouts), timeouts
        await until(lambda: len(_no_answers(rig)) >= 2, limit=15.0)
        rang = [
            (a.hungup_at - a.originated_at).total_seconds()
            for a in _no_answers(rig)
            if a.hungup_at is not None and a.originated_at is not None
        ]
        assert rang and all(14.5 <= s < 17.0 for s in rang), rang


async def test_the_default_post_dial_delay_is_3_s(rig: Rig) -> None:
    await _start(rig, PREDICTIVE)
    timeouts = await _originate_timeouts(rig)
    assert timeouts and all(t == 18.0 for t in timeouts), timeouts
