"""Fault injection of the simulator: what a daemon's link must survive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sim_client import RawAmi

from dialerd.ami.codec import MessageKind
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk

SPEED = 20.0


@pytest.fixture
async def sim() -> AsyncIterator[SimAsterisk]:
    async with SimAsterisk(clock=ScaledClock(SPEED)) as s:
        yield s


@pytest.fixture
async def ami(sim: SimAsterisk) -> AsyncIterator[RawAmi]:
    client = await RawAmi.connect(sim.port)
    await client.login()
    yield client
    await client.close()


async def test_dropped_link_keeps_calls_and_never_replays_an_originate(
    ami: RawAmi, sim: SimAsterisk
) -> None:
    ami.originate("555030001", "0001", timeout_ms=60000)
    await ami.wait_for(lambda m: m.name == "DialState")
    await sim.drop_connections()
    await ami.wait_closed()
    assert sim.active_calls == 1  # Asterisk carries on without the AMI link
    again = await RawAmi.connect(sim.port)
    try:
        await again.login()
        chans = await again.list_action("CoreShowChannels", "CoreShowChannelsComplete")
        assert chans[-1].get("ListItems") == "2"
        assert sim.originate_action_ids == ["att-0001"]
        assert sim.originates_received == 1
    finally:
        await again.close()


async def test_dead_peer_answers_nothing_until_revived(ami: RawAmi, sim: SimAsterisk) -> None:
    sim.set_dead(True)
    ami.send("Ping")
    with pytest.raises(TimeoutError):
        await ami.wait_for(
            lambda m: m.kind is MessageKind.RESPONSE and m.get("Ping") is not None, within=0.3
        )
    assert not ami.closed
    sim.set_dead(False)
    pong = await ami.action("Ping")
    assert pong.get("Ping") == "Pong"


async def test_core_restart_now_is_silent_then_closes_refuses_and_comes_back_empty() -> None:
    # slower clock: the refused window (0.9 s simulated) must outlast a busy test machine
    async with SimAsterisk(clock=ScaledClock(4.0)) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await _restart_during_call(ami, sim)
        finally:
            await ami.close()


async def _restart_during_call(ami: RawAmi, sim: SimAsterisk) -> None:
    await ami.action(
        "QueueAdd", Queue="dialer-q1", Interface="Local/agent-1@sim-agents", MemberName="Agent 1"
    )
    ami.originate("555010014", "1401")
    await ami.wait_for(lambda m: m.name == "AgentConnect", within=5)
    before = len(ami.messages)
    ami.send("Command", Command="core restart now")
    t0 = sim.clock.monotonic()
    await ami.wait_closed(within=5)
    assert sim.clock.monotonic() - t0 >= 1.0
    assert ami.messages[before:] == []  # no Response, no Hangup, nothing
    with pytest.raises(OSError):
        await RawAmi.connect(sim.port)
    for _ in range(100):
        try:
            again = await RawAmi.connect(sim.port)
            break
        except OSError:
            await asyncio.sleep(0.01)
    else:
        pytest.fail("simulator did not come back")
    try:
        await again.login()
        booted = again.events("FullyBooted")[0]
        assert int(booted.get("Uptime", "99")) <= 1
        chans = await again.list_action("CoreShowChannels", "CoreShowChannelsComplete")
        assert chans[-1].get("ListItems") == "0"
        status = await again.list_action("QueueStatus", "QueueStatusComplete")
        assert [m.name for m in status if m.name == "QueueMember"] == []
        assert sim.active_calls == 0 and sim.queue_members() == []
    finally:
        await again.close()


async def test_restart_api_waits_until_the_server_is_back(sim: SimAsterisk) -> None:
    client = await RawAmi.connect(sim.port)
    await client.login()
    await sim.restart(downtime=0.5)
    await client.wait_closed()
    await client.close()
    again = await RawAmi.connect(sim.port)
    try:
        assert (await again.login()).name == "Success"
    finally:
        await again.close()


async def test_response_delay_slows_every_reply(ami: RawAmi, sim: SimAsterisk) -> None:
    sim.set_response_delay(2.0)
    t0 = sim.clock.monotonic()
    await ami.action("Ping")
    assert sim.clock.monotonic() - t0 >= 1.9
    sim.set_response_delay(0)
    ami.originate("555020001", "0001")
    await ami.call_over("0001")


async def test_garbage_is_sent_and_the_link_still_works(ami: RawAmi, sim: SimAsterisk) -> None:
    await sim.inject_garbage(b"\x00\xffnot ami at all\r\n\r\n")
    await asyncio.sleep(0.05)
    assert ami.decoder.protocol_errors >= 1
    assert (await ami.action("Ping")).get("Ping") == "Pong"


async def test_client_garbage_is_ignored(ami: RawAmi) -> None:
    ami.writer.write(b"\xfe\xfe garbage without colon\r\n\r\n")
    assert (await ami.action("Ping")).get("Ping") == "Pong"
