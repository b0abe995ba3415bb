"""Inbound calls on a campaign's DID, over the AMI wire of the simulated Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialerd.ami import AsteriskServer, ServerConfig
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import Status
from dialerd.domain.selection import ContactSelection
from dialerd.engine.inbound import InboundIntake
from dialerd.engine.tasks import TaskRunner
from dialerd.sim import SimAsterisk
from dialerd.sim.inbound import inbound_call
from dialerd.store import Store

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def until(pred: Callable[[], bool], limit: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[tuple[SimAsterisk, AsteriskServer, ScaledClock]]:
    clock = ScaledClock(20.0, start=START)
    sim = SimAsterisk(clock=clock)
    await sim.start()
    server = AsteriskServer(
        # generous in engine seconds: at 20x a busy test machine must not look like a dead peer
        ServerConfig(
            name="sim1",
            port=sim.port,
            username="dialer",
            secret="dialerpass",
            dead_peer_timeout=300.0,
            action_timeout=100.0,
        ),
        clock=clock,
    )
    server.start()
    try:
        await until(lambda: server.ready)
        yield sim, server, clock
    finally:
        await asyncio.wait_for(server.close(), 10)
        await asyncio.wait_for(sim.stop(), 10)


def spec() -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "inb",
            "tasks": [
                {"name": "call", "type": "call"},
                {
                    "name": "inbound",
                    "type": "new_contact",
                    "settings": {"dids": ["+4930901821"], "context": "from-trunk"},
                },
            ],
            "start_task": "call",
            "rules": [{"from": "inbound", "status": "success", "to": "call"}],
        }
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_call_to_the_did_creates_or_finds_the_contact(
    store: Store, wire: tuple[SimAsterisk, AsteriskServer, ScaledClock]
) -> None:
    sim, server, clock = wire
    camp = await store.create_campaign(spec(), clock.now())
    intake = InboundIntake(store, {"sim1": server}, clock)
    async with asyncio.TaskGroup() as tg:
        running = tg.create_task(intake.run())
        await asyncio.wait_for(intake.wait_ready(), 5)
        # as a German trunk delivers it: DID without "+", caller in national format
        inbound_call(sim, "4930901821", "01701234567")
        await until(lambda: len(intake.handled) == 1)
        inbound_call(sim, "+4930901821", "+491701234567")  # the same caller again
        inbound_call(sim, "4930999999", "01709999999")  # not our number: never reported
        inbound_call(sim, "4930901821", "01705555555", context="from-internal")  # wrong ctx
        await until(lambda: len(intake.handled) == 3)
        running.cancel()
    results = [r for _, r in intake.handled]
    assert results[0] is not None and results[0].created
    assert results[1] is not None and not results[1].created
    assert results[1].contact_id == results[0].contact_id
    assert results[2] is None and intake.handled[2][0].context == "from-internal"
    [contact] = await store.find_contacts(camp.id)
    assert contact.phone == "+491701234567"
    assert contact.fields["inbound_did"] == "+4930901821"
    # the new_contact task hands it on to the call task through the taskflow
    await TaskRunner(store, camp.id, clock, holder="t").run_once()
    [queued] = await store.find_contacts(camp.id, ContactSelection(task="call"))
    assert queued.id == contact.id and queued.status is Status.OPEN
