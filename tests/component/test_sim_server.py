"""Session, list and queue actions of the simulator over TCP, compared with the recordings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sim_client import RawAmi

from dialerd.ami.codec import MessageKind
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk, astcli

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


async def test_login_gets_banner_success_fully_booted_and_successful_auth(
    sim: SimAsterisk,
) -> None:
    client = await RawAmi.connect(sim.port)
    try:
        resp = await client.login()
        assert client.messages[0].kind is MessageKind.BANNER
        assert client.messages[0].name == "Asterisk Call Manager/11.0.0"
        assert (resp.name, resp.get("Message")) == ("Success", "Authentication accepted")
        auth = await client.wait_for(lambda m: m.name == "SuccessfulAuth")
        booted = client.events("FullyBooted")[0]
        assert booted.get("Status") == "Fully Booted"
        assert auth.get("AccountID") == "dialer"
    finally:
        await client.close()


async def test_wrong_secret_fails_after_a_second_and_closes(sim: SimAsterisk) -> None:
    client = await RawAmi.connect(sim.port)
    try:
        t0 = sim.clock.monotonic()
        resp = await client.login(secret="wrongsecret")
        assert (resp.name, resp.get("Message")) == ("Error", "Authentication failed")
        assert sim.clock.monotonic() - t0 >= 0.95
        await client.wait_closed()
        assert not client.events()  # no FullyBooted for a failed login
    finally:
        await client.close()


async def test_configured_credentials_are_used() -> None:
    async with SimAsterisk(clock=ScaledClock(SPEED), username="u2", secret="s2") as sim:
        client = await RawAmi.connect(sim.port)
        try:
            assert (await client.login(user="u2", secret="s2")).name == "Success"
        finally:
            await client.close()


async def test_actions_before_login_are_refused(sim: SimAsterisk) -> None:
    client = await RawAmi.connect(sim.port)
    try:
        resp = await client.action("Ping")
        assert resp.name == "Error"
        assert sim.originate_action_ids == []
    finally:
        await client.close()


async def test_ping_logoff_unknown_and_command(ami: RawAmi) -> None:
    pong = await ami.action("Ping")
    assert pong.get("Ping") == "Pong"
    assert float(pong.get("Timestamp", "0")) > 1e9
    bad = await ami.action("NoSuchAction")
    assert (bad.name, bad.get("Message")) == ("Error", "Invalid/unknown command")
    out = await ami.action("Command", Command="core show version")
    assert out.get("Message") == "Command output follows"
    assert out.getall("Output")[0].startswith("Asterisk 22.10.1")
    bye = await ami.action("Logoff")
    assert (bye.name, bye.get("Message")) == ("Goodbye", "Thanks for all the fish.")
    await ami.wait_closed()


async def test_empty_lists_look_like_the_recording(ami: RawAmi) -> None:
    chans = await ami.list_action("CoreShowChannels", "CoreShowChannelsComplete")
    assert chans[0].get("EventList") == "start"
    assert chans[-1].get("ListItems") == "0"
    status = await ami.list_action("QueueStatus", "QueueStatusComplete")
    assert [m.name for m in status] == ["Success", "QueueParams", "QueueStatusComplete"]
    assert status[-1].get("ListItems") == "1"
    summary = await ami.list_action("QueueSummary", "QueueSummaryComplete")
    assert [m.name for m in summary] == ["Success", "QueueSummary", "QueueSummaryComplete"]


async def test_queue_member_actions(ami: RawAmi, sim: SimAsterisk) -> None:
    for n in (1, 2):
        resp = await ami.action(
            "QueueAdd",
            Queue="dialer-q1",
            Interface=f"Local/agent-{n}@sim-agents",
            MemberName=f"Agent {n}",
        )
        assert resp.get("Message") == "Added interface to queue"
    added = await ami.wait_for(lambda m: m.name == "QueueMemberAdded")
    assert added.action_id is None and added.get("MemberName") == "Agent 1"
    resp = await ami.action(
        "QueuePause",
        Queue="dialer-q1",
        Interface="Local/agent-2@sim-agents",
        Paused="true",
        Reason="lunch break",
    )
    assert resp.get("Message") == "Interface paused successfully"
    pause = await ami.wait_for(lambda m: m.name == "QueueMemberPause")
    assert (pause.get("Paused"), pause.get("PausedReason")) == ("1", "lunch break")
    status = await ami.list_action("QueueStatus", "QueueStatusComplete", Queue="dialer-q1")
    members = [m for m in status if m.name == "QueueMember"]
    assert [(m.get("Name"), m.get("Location"), m.get("Paused")) for m in members] == [
        ("Agent 1", "Local/agent-1@sim-agents", "0"),
        ("Agent 2", "Local/agent-2@sim-agents", "1"),
    ]
    assert status[-1].get("ListItems") == "3"
    views = sim.queue_members("dialer-q1")
    assert [(v.interface, v.paused) for v in views] == [
        ("Local/agent-1@sim-agents", False),
        ("Local/agent-2@sim-agents", True),
    ]
    resp = await ami.action("QueueRemove", Queue="dialer-q1", Interface="Local/agent-9@sim-agents")
    assert (resp.name, resp.get("Message")) == ("Error", "Unable to remove interface: Not there")
    resp = await ami.action("QueueRemove", Queue="dialer-q1", Interface="Local/agent-2@sim-agents")
    assert resp.get("Message") == "Removed interface from queue"
    await ami.wait_for(lambda m: m.name == "QueueMemberRemoved")
    assert [v.interface for v in sim.queue_members()] == ["Local/agent-1@sim-agents"]


async def test_core_show_channels_lists_a_call_in_progress(ami: RawAmi, sim: SimAsterisk) -> None:
    ami.originate("555030001", "0001", timeout_ms=60000)
    await ami.wait_for(lambda m: m.name == "DialState")
    chans = await ami.list_action("CoreShowChannels", "CoreShowChannelsComplete")
    items = [m for m in chans if m.name == "CoreShowChannel"]
    assert sorted(m.get("Uniqueid", "") for m in items) == ["att-0001-a", "att-0001-b"]
    assert chans[-1].get("ListItems") == "2"
    assert sim.active_calls == 1 and sim.active_channels == 2


async def test_every_event_is_sent_to_every_logged_in_session(
    ami: RawAmi, sim: SimAsterisk
) -> None:
    other = await RawAmi.connect(sim.port)
    try:
        await other.login()
        ami.originate("555020001", "0001")
        await ami.call_over("0001")
        await other.call_over("0001")
        assert [m.name for m in other.events("Hangup")] == ["Hangup", "Hangup"]
    finally:
        await other.close()


async def test_split_writes_are_reassembled(sim: SimAsterisk) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        await reader.readline()
        data = b"Action: Ping\r\nActionID: p1\r\n\r\n"
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert b"Permission denied" in reply  # parsed as one action although split
    finally:
        writer.close()
        await writer.wait_closed()


async def test_astcli_turns_queue_reload_into_the_member_timeout(
    sim: SimAsterisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "queues.conf").write_text("[dialer-q1]\ntimeout = 5\nretry = 1\n")
    monkeypatch.setenv("AMI_PORT", str(sim.port))
    argv = ["-C", str(etc / "asterisk.conf"), "-rx", "queue reload parameters"]
    assert await asyncio.to_thread(astcli.main, argv) == 0
    assert sim.pbx.member_timeout == 5.0
