"""Every recorded call outcome, through TCP against the simulator (accelerated clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sim_client import RawAmi

from dialerd.domain.clock import ManualClock, ScaledClock
from dialerd.sim import AgentModel, AgentProfile, QueueConfig, SimAsterisk, SimModel

SPEED = 40.0  # 20 s of talk take 0.5 s


@pytest.fixture
async def sim() -> AsyncIterator[SimAsterisk]:
    async with SimAsterisk(clock=ScaledClock(SPEED), seed=7) as s:
        yield s


@pytest.fixture
async def ami(sim: SimAsterisk) -> AsyncIterator[RawAmi]:
    client = await RawAmi.connect(sim.port)
    await client.login()
    yield client
    await client.close()


async def add_agent(ami: RawAmi, n: int, paused: bool = False, iface: str | None = None) -> None:
    fields = {
        "Queue": "dialer-q1",
        "Interface": iface or f"Local/agent-{n}@sim-agents",
        "MemberName": f"Agent {n}",
    }
    if paused:
        fields["Paused"] = "true"
    resp = await ami.action("QueueAdd", **fields)
    assert resp.name == "Success"


def names(ami: RawAmi, attempt: str) -> list[str]:
    return [m.name for m in ami.events(linkedid=f"att-{attempt}-a")]


async def test_queued_reply_comes_before_any_event_of_the_call(ami: RawAmi) -> None:
    start = len(ami.messages)
    ami.originate("555020001", "0001")
    await ami.call_over("0001")
    mine = ami.messages[start:]
    assert mine[0].name == "Success"
    assert mine[0].get("Message") == "Originate successfully queued"


@pytest.mark.parametrize(
    ("number", "reason", "c1", "c2", "dial_end"),
    [
        ("555020005", "5", "0", "17", "BUSY"),
        ("555040007", "8", "0", "34", "CONGESTION"),
        ("555060008", "0", "1", "1", "NOANSWER"),
        ("12345", "0", "0", "0", None),
    ],
)
async def test_failed_outcomes_match_the_recordings(
    ami: RawAmi, number: str, reason: str, c1: str, c2: str, dial_end: str | None
) -> None:
    ami.originate(number, "0501")
    rr = await ami.call_over("0501")
    assert (rr.get("Response"), rr.get("Reason")) == ("Failure", reason)
    assert rr.get("Channel") == f"Local/{number}@sim-callees"  # bare dial string on failure
    assert rr.get("Uniqueid") == "att-0501-a"
    assert (ami.cause("0501", "a"), ami.cause("0501", "b")) == (c1, c2)
    ends = [m.get("DialStatus") for m in ami.events("DialEnd", "att-0501-a")]
    assert ends == ([dial_end] if dial_end else [])
    if dial_end is None:
        assert not ami.events("DialBegin", "att-0501-a")
    assert ami.events("VarSet", "att-0501-a")  # Variable: set on the halves


async def test_ringing_past_the_originate_timeout_fails_with_reason_3_and_no_dial_end(
    ami: RawAmi, sim: SimAsterisk
) -> None:
    t0 = sim.clock.monotonic()
    ami.originate("555030006", "0601", timeout_ms=15000)
    rr = await ami.call_over("0601")
    elapsed = sim.clock.monotonic() - t0
    assert (rr.get("Response"), rr.get("Reason")) == ("Failure", "3")
    assert 14.9 <= elapsed <= 20.0  # the RR itself comes at exactly 15 s
    assert (ami.cause("0601", "a"), ami.cause("0601", "b")) == ("19", "19")
    assert not ami.events("DialEnd", "att-0601-a")
    assert [m.get("DialStatus") for m in ami.events("DialState", "att-0601-a")] == ["RINGING"]


async def test_answered_call_connects_to_the_agent_and_completes(
    ami: RawAmi, sim: SimAsterisk
) -> None:
    await add_agent(ami, 1)
    ami.originate("555010004", "0401")
    rr = await ami.call_over("0401", within=5)
    assert (rr.get("Response"), rr.get("Reason")) == ("Success", "4")
    assert rr.get("Channel", "").endswith(";1")
    connect = ami.events("AgentConnect", "att-0401-a")[0]
    assert connect.get("Interface") == "Local/agent-1@sim-agents"
    assert (connect.get("HoldTime"), connect.get("RingTime")) == ("1", "1")
    complete = ami.events("AgentComplete", "att-0401-a")[0]
    assert complete.get("Reason") == "caller"
    assert complete.get("TalkTime") in ("18", "19")
    assert (ami.cause("0401", "a"), ami.cause("0401", "b")) == ("16", "16")
    # the agent legs share the attempt's Linkedid
    agent_legs = [
        m for m in ami.events("Newchannel", "att-0401-a") if "agent-1" in m.get("Channel", "")
    ]
    assert len(agent_legs) == 2
    statuses = [m.get("Status") for m in ami.events("QueueMemberStatus")]
    assert statuses == ["2", "1"]
    assert all(m.get("InCall") == "0" for m in ami.events("QueueMemberStatus"))
    assert sim.active_channels == 0


async def test_no_agent_means_queue_timeout_abandon_and_information_message(
    ami: RawAmi,
) -> None:
    ami.originate("555010009", "0901")
    await ami.call_over("0901", within=5)
    seq = [
        n
        for n in names(ami, "0901")
        if n in ("QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave", "UserEvent")
    ]
    assert seq == ["QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave", "UserEvent"]
    abandon = ami.events("QueueCallerAbandon", "att-0901-a")[0]
    assert abandon.get("HoldTime") == "10"
    user = ami.events("UserEvent", "att-0901-a")[0]
    assert (user.get("UserEvent"), user.get("Status")) == ("DialerAbandon", "TIMEOUT")
    assert (ami.cause("0901", "a"), ami.cause("0901", "b")) == ("16", "16")


async def test_connect_timeout_variable_overrides_the_queue_limit(ami: RawAmi) -> None:
    ami.originate("555010019", "0902", variables=["DIALER_CONNECT_TIMEOUT=2"])
    await ami.call_over("0902", within=5)
    abandon = ami.events("QueueCallerAbandon", "att-0902-a")[0]
    assert abandon.get("HoldTime") == "2"


async def test_callee_hanging_up_in_queue_abandons_without_user_event(ami: RawAmi) -> None:
    await add_agent(ami, 1, paused=True)
    ami.originate("555070010", "1001")
    await ami.call_over("1001", within=5)
    seq = [m.name for m in ami.events(linkedid="att-1001-a")]
    assert "UserEvent" not in seq
    assert "AgentCalled" not in seq  # a paused member is never rung
    hangup_b = next(
        i
        for i, m in enumerate(ami.events(linkedid="att-1001-a"))
        if m.name == "Hangup" and m.get("Uniqueid") == "att-1001-b"
    )
    assert seq.index("QueueCallerAbandon") > hangup_b
    assert ami.events("QueueCallerAbandon", "att-1001-a")[0].get("HoldTime") == "3"


async def test_ring_no_answer_member_is_skipped_after_its_ring_timeout() -> None:
    model = SimModel()
    from dataclasses import replace

    model = replace(model, queue=replace(model.queue, member_timeout=5.0))
    async with SimAsterisk(clock=ScaledClock(SPEED), model=model) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1, iface="Local/rna-agent-1@sim-agents")
            await add_agent(ami, 2)
            ami.originate("555010011", "1101")
            await ami.call_over("1101", within=5)
            rna = ami.events("AgentRingNoAnswer", "att-1101-a")
            assert [m.get("RingTime") for m in rna] == ["5000"]
            ends = [
                m.get("DialStatus")
                for m in ami.events("DialEnd", "att-1101-a")
                if "rna-agent" in m.get("DestChannel", "")
            ]
            assert ends == ["NOANSWER", "CANCEL"]
            connect = ami.events("AgentConnect", "att-1101-a")[0]
            assert connect.get("Interface") == "Local/agent-2@sim-agents"
            assert connect.get("HoldTime") == "7"
        finally:
            await ami.close()


async def test_removing_the_member_that_took_the_last_call_keeps_the_rotation(
    ami: RawAmi,
) -> None:
    """Recordings 04 then 11, as played on Asterisk 22.10.1: agent-1 takes a call and leaves the
    queue; of the two members added next, the first (rna-agent-1) is rung first. app_queue
    moves its rrmemory position back when a member before it leaves; the simulator used not
    to, and rang agent-2 first."""
    await add_agent(ami, 1)
    ami.originate("555010004", "0401")
    await ami.call_over("0401", within=5)
    resp = await ami.action("QueueRemove", Queue="dialer-q1", Interface="Local/agent-1@sim-agents")
    assert resp.name == "Success"
    await add_agent(ami, 1, iface="Local/rna-agent-1@sim-agents")
    await add_agent(ami, 2)
    start = len(ami.messages)
    ami.originate("555010011", "1101")
    called = await ami.wait_for(lambda m: m.name == "AgentCalled", within=5, start=start)
    assert called.get("Interface") == "Local/rna-agent-1@sim-agents"


async def test_failed_originate_without_channel_id_reports_unknown_uniqueid(
    ami: RawAmi,
) -> None:
    ami.originate("555020012", "1201", with_ids=False)
    rr = await ami.wait_for(lambda m: m.name == "OriginateResponse")
    assert rr.get("Uniqueid") == "<unknown>"
    assert rr.get("Reason") == "5"
    new = [m for m in ami.events("Newchannel") if "555020012" in m.get("Channel", "")]
    one, two = (m.get("Uniqueid", "") for m in new)
    assert one.split(".")[0].isdigit() and int(two.split(".")[1]) == int(one.split(".")[1]) + 1
    assert all(m.get("Linkedid") == one for m in new)


@pytest.mark.parametrize(
    ("number", "status", "cause", "queued"),
    [
        ("555050015", "MACHINE", "LONGGREETING-1500-1500", False),
        ("555080015", "HUMAN", "HUMAN-800-800", True),
        ("555010015", "NOTSURE", "TOOLONG-4900", True),
    ],
)
async def test_amd_context_reports_the_recorded_verdicts(
    ami: RawAmi, number: str, status: str, cause: str, queued: bool
) -> None:
    await add_agent(ami, 1)
    ami.originate(number, "1501", context="dialer-connect-amd")
    await ami.call_over("1501", within=5)
    amd = [m for m in ami.events("UserEvent", "att-1501-a") if m.get("UserEvent") == "DialerAMD"]
    assert [(m.get("Status"), m.get("Cause")) for m in amd] == [(status, cause)]
    assert bool(ami.events("QueueCallerJoin", "att-1501-a")) is queued


async def test_e164_numbers_follow_the_seeded_model() -> None:
    from dialerd.sim import CalleeModel

    model = SimModel(callee=CalleeModel(answer=0.0, busy=1.0, congestion=0.0, invalid=0.0))
    async with SimAsterisk(clock=ScaledClock(SPEED), model=model) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            ami.originate("+4930123456", "2001")
            rr = await ami.call_over("2001")
            assert rr.get("Reason") == "5"
        finally:
            await ami.close()


async def test_agent_with_slow_softphone_rings_longer() -> None:
    agents = AgentModel(per_agent={"agent-1": AgentProfile(ring_delay=3.0)})
    async with SimAsterisk(clock=ScaledClock(SPEED), model=SimModel(agents=agents)) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1)
            ami.originate("555010031", "3101")
            await ami.call_over("3101", within=5)
            assert ami.events("AgentConnect", "att-3101-a")[0].get("RingTime") == "3"
        finally:
            await ami.close()


async def test_wrapup_keeps_a_member_from_being_rung() -> None:
    clock = ManualClock()
    async with SimAsterisk(clock=clock) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1)
            ami.originate("555070041", "4101")  # answers at once, talks, hangs up at 3.02 s
            ami.originate("555010042", "4102")  # answers at 2 s, then waits for agent-1
            await ami.wait_for(lambda m: m.name == "DialState")
            completed_at = called_at = None
            start = clock.monotonic()
            while called_at is None and clock.monotonic() - start < 12:
                clock.advance(0.1)
                for _ in range(20):
                    await asyncio.sleep(0)
                now = clock.monotonic() - start
                if completed_at is None and ami.events("AgentComplete", "att-4101-a"):
                    completed_at = now
                if ami.events("AgentCalled", "att-4102-a"):
                    called_at = now
            assert completed_at is not None and called_at is not None
            # wrapuptime = 5 counts whole seconds of the wall clock (time(NULL) - wrapuptime <
            # lastcall): the member is free again 4 to 5 s after the call (4.2 s once on
            # Asterisk 22.10.1), and the waiting caller sees it at its next check.
            assert 4.0 < called_at - completed_at <= 5.0 + 1.1
            for _ in range(30):
                clock.advance(1.0)
                for _ in range(20):
                    await asyncio.sleep(0)
            connect = ami.events("AgentConnect", "att-4102-a")[0]
            assert connect.get("HoldTime") in ("7", "8")  # joined at 2 s, rung 4-5 s after 3 s
        finally:
            await ami.close()


async def test_a_manual_clock_steps_a_whole_call() -> None:
    clock = ManualClock()
    async with SimAsterisk(clock=clock) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1)
            ami.originate("555010004", "0401")
            await ami.wait_for(lambda m: m.name == "DialState")
            assert not ami.events("OriginateResponse")
            for _ in range(25):  # 25 simulated seconds in 1 s steps
                clock.advance(1.0)
                for _ in range(20):
                    await asyncio.sleep(0)
            await ami.call_over("0401", within=2)
            complete = ami.events("AgentComplete", "att-0401-a")[0]
            assert complete.get("TalkTime") in ("18", "19")
        finally:
            await ami.close()


async def test_agent_hanging_up_first_completes_with_reason_agent() -> None:
    agents = AgentModel(per_agent={"agent-1": AgentProfile(max_talk=4.0)})
    async with SimAsterisk(clock=ScaledClock(SPEED), model=SimModel(agents=agents)) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1)
            ami.originate("555010051", "5101")
            await ami.call_over("5101", within=5)
            complete = ami.events("AgentComplete", "att-5101-a")[0]
            assert (complete.get("Reason"), complete.get("TalkTime")) == ("agent", "4")
            assert (ami.cause("5101", "a"), ami.cause("5101", "b")) == ("16", "16")
            assert sim.active_channels == 0
        finally:
            await ami.close()


async def test_queue_timeout_cuts_a_ring_like_11b() -> None:
    model = SimModel(queue=QueueConfig(member_timeout=5.0))
    async with SimAsterisk(clock=ScaledClock(SPEED), model=model) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            await add_agent(ami, 1, iface="Local/rna-agent-1@sim-agents")
            resp = await ami.action(
                "QueueAdd",
                Queue="dialer-q1",
                Interface="Local/agent-2@sim-agents",
                MemberName="Agent 2",
                Penalty="1",
            )
            assert resp.name == "Success"
            ami.originate("555010011", "1101")
            await ami.call_over("1101", within=5)
            rna = ami.events("AgentRingNoAnswer", "att-1101-a")
            assert [m.get("RingTime") for m in rna] == ["5000", "4000"]
            assert all("rna-agent-1" in m.get("Interface", "") for m in rna)  # penalty 1: never
            assert ami.events("QueueCallerAbandon", "att-1101-a")[0].get("HoldTime") == "10"
            user = ami.events("UserEvent", "att-1101-a")
            assert [m.get("Status") for m in user] == ["TIMEOUT"]
        finally:
            await ami.close()


async def test_an_agent_talking_for_one_queue_is_not_rung_by_another(ami: RawAmi) -> None:
    """ringinuse=no follows the device: an agent in two queues takes one call at a time."""
    await add_agent(ami, 1)
    resp = await ami.action(
        "QueueAdd", Queue="dialer-q2", Interface="Local/agent-1@sim-agents", MemberName="Agent 1"
    )
    assert resp.name == "Success"
    ami.originate("555010051", "5101")  # answers at 2 s, connects to agent-1, talks 20 s
    await ami.wait_for(lambda m: m.name == "AgentConnect")
    ami.originate(
        "555010052", "5102", variables=["DIALER_QUEUE=dialer-q2", "DIALER_CONNECT_TIMEOUT=2"]
    )
    await ami.call_over("5102", within=10)
    assert not ami.events("AgentCalled", "att-5102-a")
    assert ami.events("QueueCallerAbandon", "att-5102-a")
    busy = [
        m
        for m in ami.events("QueueMemberStatus")
        if m.get("Queue") == "dialer-q2" and m.get("Status") == "2"
    ]
    assert busy  # the other queue's member shows in use, as app_queue reports it


async def test_queue_penalty_sends_the_caller_to_the_lower_penalty_member(ami: RawAmi) -> None:
    await add_agent(ami, 1)
    await add_agent(ami, 2)
    resp = await ami.action(
        "QueuePenalty", Queue="dialer-q1", Interface="Local/agent-1@sim-agents", Penalty="10"
    )
    assert resp.name == "Success"
    event = await ami.wait_for(lambda m: m.name == "QueueMemberPenalty")
    assert (event.get("Interface"), event.get("Penalty")) == ("Local/agent-1@sim-agents", "10")
    ami.originate("555010061", "6101")  # rrmemory would ring agent-1, the first member, first
    await ami.wait_for(lambda m: m.name == "AgentConnect")
    [called] = ami.events("AgentCalled", "att-6101-a")
    assert called.get("Interface") == "Local/agent-2@sim-agents"
    bad = await ami.action("QueuePenalty", Interface="Local/agent-9@sim-agents", Penalty="1")
    assert bad.name == "Error"


async def test_queue_penalty_replies_as_asterisk_22(ami: RawAmi) -> None:
    """The replies of app_queue's QueuePenalty as Asterisk 22.10.1 gave them (asterisk-test,
    scenario 17-penalty of asterisk-test/README.md): the value goes through atoi()."""
    await add_agent(ami, 1)
    iface = "Local/agent-1@sim-agents"
    missing = await ami.action("QueuePenalty", Queue="dialer-q1", Interface=iface)
    assert (missing.name, missing.get("Message")) == (
        "Error",
        "Need 'Interface' and 'Penalty' parameters.",
    )
    negative = await ami.action("QueuePenalty", Queue="dialer-q1", Interface=iface, Penalty="-1")
    assert negative.get("Message") == "Invalid interface, queuename or penalty"
    other = await ami.action("QueuePenalty", Queue="no-such-queue", Interface=iface, Penalty="5")
    assert other.get("Message") == "Invalid interface, queuename or penalty"
    start = len(ami.messages)
    text = await ami.action("QueuePenalty", Queue="dialer-q1", Interface=iface, Penalty="7x")
    assert (text.name, text.get("Message")) == ("Success", "Interface penalty set successfully")
    event = await ami.wait_for(lambda m: m.name == "QueueMemberPenalty", start=start)
    assert event.get("Penalty") == "7"


async def test_only_the_configured_queues_exist_when_they_are_named() -> None:
    """Asterisk has only the queues of queues.conf (asterisk-test scenarios 19 and 20 on
    Asterisk 22.10.1); the simulator used to create any queue it was asked for."""
    model = SimModel(queue=QueueConfig(queues=frozenset({"dialer-q1"})))
    async with SimAsterisk(clock=ScaledClock(SPEED), model=model) as sim:
        ami = await RawAmi.connect(sim.port)
        try:
            await ami.login()
            iface = "Local/agent-1@sim-agents"
            add = await ami.action("QueueAdd", Queue="dialerd-x", Interface=iface)
            assert (add.name, add.get("Message")) == (
                "Error",
                "Unable to add interface to queue: No such queue",
            )
            pause = await ami.action("QueuePause", Queue="dialerd-x", Interface=iface, Paused="1")
            assert pause.get("Message") == "Interface not found"
            remove = await ami.action("QueueRemove", Queue="dialerd-x", Interface=iface)
            assert remove.get("Message") == "Unable to remove interface from queue: No such queue"
            listed = await ami.list_action("QueueStatus", "QueueStatusComplete")
            assert [m.get("Queue") for m in listed if m.name == "QueueParams"] == ["dialer-q1"]
            # Queue() on a queue Asterisk does not have gives up at once: QUEUESTATUS=UNKNOWN.
            ami.originate("555010020", "2001", variables=["DIALER_QUEUE=dialerd-x"])
            await ami.call_over("2001", within=5)
            names_seen = names(ami, "2001")
            assert "QueueCallerJoin" not in names_seen
            [user] = ami.events("UserEvent", "att-2001-a")
            assert (user.get("UserEvent"), user.get("Status")) == ("DialerAbandon", "UNKNOWN")
            assert (ami.cause("2001", "a"), ami.cause("2001", "b")) == ("16", "16")
        finally:
            await ami.close()


async def test_connect_context_runs_as_in_asterisk_test(ami: RawAmi) -> None:
    """The ;1 half runs asterisk-test's [dialer-connect] step by step, as Asterisk 22.10.1 did
    (Set DIALER_Q and DIALER_T before Queue(); DIALEDTIME counts from the dial, QUEUEWAIT in
    whole seconds; the information message from DIALER_INFO_MESSAGE)."""
    ami.originate(
        "555010009",
        "0903",
        variables=["DIALER_CONNECT_TIMEOUT=2", "DIALER_INFO_MESSAGE=custom-message"],
    )
    await ami.call_over("0903", within=5)
    steps = [
        (m.get("Priority"), m.get("Application"), m.get("AppData"))
        for m in ami.events("Newexten", "att-0903-a")
        if m.get("Uniqueid") == "att-0903-a" and m.get("Context") == "dialer-connect"
    ]
    assert steps == [
        ("1", "NoOp", "dialer: attempt 0903 answered"),
        ("2", "Set", "DIALER_STAGE=queue"),
        ("3", "Set", "DIALER_Q=dialer-q1"),
        ("4", "Set", "DIALER_T=2"),
        ("5", "Queue", "dialer-q1,,,,2"),
        ("6", "NoOp", "dialer: QUEUESTATUS=TIMEOUT"),
        ("7", "GotoIf", "0?done"),
        ("8", "GotoIf", "0?done"),
        ("9", "UserEvent", "DialerAbandon,Status: TIMEOUT"),
        ("10", "Playback", "custom-message"),
        ("11", "Hangup", ""),
    ]
    values = {
        m.get("Variable"): m.get("Value")
        for m in ami.events("VarSet", "att-0903-a")
        if m.get("Uniqueid") == "att-0903-a" and m.get("Value")
    }
    assert values["QUEUEWAIT_MS"] == "2000"
    assert values["DIALEDTIME"] == "4"  # 2 s ringing + 2 s in the queue


async def test_queue_timeout_is_whole_seconds(ami: RawAmi) -> None:
    """Queue() reads its timeout with atoi(): "2.5" gives a ringing agent 2 s, "0.5" gives up
    before ringing a free agent."""
    await add_agent(ami, 1, iface="Local/rna-agent-1@sim-agents")
    ami.originate("555010023", "2301", variables=["DIALER_CONNECT_TIMEOUT=2.5"])
    await ami.call_over("2301", within=5)
    [rna] = ami.events("AgentRingNoAnswer", "att-2301-a")
    assert rna.get("RingTime") == "2000"
    assert ami.events("QueueCallerAbandon", "att-2301-a")[0].get("HoldTime") == "2"
    await add_agent(ami, 2)
    ami.originate("555010024", "2302", variables=["DIALER_CONNECT_TIMEOUT=0.5"])
    await ami.call_over("2302", within=5)
    assert ami.events("QueueCallerAbandon", "att-2302-a")[0].get("HoldTime") == "0"
    assert not ami.events("AgentCalled", "att-2302-a")
