"""The recording of 16-load (40 calls 0.5 s apart onto six agents, on a real Asterisk 22)
played again, action for action at its recorded times, against the simulator on a manual
clock set to the recording's wall-clock time, and every call's outcome compared.

app_queue counts a caller's Queue() time in whole seconds of the wall clock (``time(NULL)``,
apps/app_queue.c): it gives up at the first look in the second ``start + timeout``, and a
member it rings gets ``(expire - time(NULL))`` whole seconds at most. Where a call ends near
the limit therefore depends on where in its second the caller joined, so the simulator's clock
follows the recording's to the millisecond (its ``EventTV``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sim_client import RawAmi

from dialerd.ami.codec import AmiDecoder, Message
from dialerd.ami.replay import replay
from dialerd.ami.transcript import Mark, Received, Sent, TranscriptItem, read_transcript
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import CallResult
from dialerd.sim import SimAsterisk

STEP = 0.001  # the recordings' resolution
ANSWERED_AND_QUEUED = 2.003  # a 55501 call: rings 2 s, then the connect context joins Queue()


def recorded_start(items: Sequence[TranscriptItem]) -> datetime:
    """The wall-clock time of the recording's second 0: its first ``EventTV``, less when it
    was received."""
    for item in items:
        if isinstance(item, Received):
            for msg in AmiDecoder(expect_banner=False).feed(item.data):
                if isinstance(msg, Message) and msg.get("EventTV"):
                    tv = datetime.fromisoformat(msg.get("EventTV") or "")
                    return tv - timedelta(seconds=item.t)
    raise AssertionError("no EventTV in the recording")


async def play(items: Sequence[TranscriptItem], start: datetime) -> list[TranscriptItem]:
    """The client's side of ``items`` sent to a simulator whose clock starts at ``start``,
    each action at its recorded time; what the simulator sent back, stamped on that clock."""
    clock = ManualClock(start=start)
    actions = [i for i in items if isinstance(i, Sent)]
    end = max(i.t for i in items) + 1.0
    got: list[TranscriptItem] = [Mark(0.0, "connect")]
    async with SimAsterisk(clock=clock) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)

        async def receive() -> None:
            while data := await reader.read(65536):
                got.append(Received(clock.monotonic(), data))

        receiving = asyncio.create_task(receive())
        try:
            while clock.monotonic() < end:
                while actions and actions[0].t <= clock.monotonic() + STEP / 2:
                    action = actions.pop(0)
                    got.append(Sent(clock.monotonic(), action.data))
                    writer.write(action.data)
                for _ in range(6):  # the simulator's timers, its writes, then our read
                    await asyncio.sleep(0)
                clock.advance(STEP)
        finally:
            writer.close()
            receiving.cancel()
    return got


def outcomes(items: Sequence[TranscriptItem]) -> dict[str, tuple[CallResult, str]]:
    res = replay(items)
    assert res.protocol_errors == 0
    return {o.attempt_id: (o.result, o.detail) for o in res.outcomes}


@pytest.fixture
def recording(transcripts_dir: Path) -> list[TranscriptItem]:
    return read_transcript(transcripts_dir / "16-load.txt")


async def test_every_call_of_16_load_ends_as_on_the_real_asterisk(
    recording: list[TranscriptItem],
) -> None:
    real = outcomes(recording)
    sim = outcomes(await play(recording, recorded_start(recording)))
    assert len(real) == 40
    assert sim == real


async def _steps(clock: ManualClock, seconds: float) -> None:
    """``seconds`` of the manual clock, a millisecond at a time, the simulator running in
    between."""
    for _ in range(round(seconds / STEP)):
        clock.advance(STEP)
        for _ in range(6):
            await asyncio.sleep(0)


async def _rung_at_the_eighth_look(join_fraction: float) -> RawAmi:
    """16-load's att-1635 alone: the caller joins the queue (10 s) at ``join_fraction`` of a
    wall-clock second, no agent free; one becomes free 7.5 s later, and app_queue rings them
    at the caller's 8th look at its turn, 8.008 s after the join (a look a second, ~1 ms
    late each); the agent answers after 1 s."""
    second = datetime(2026, 11, 23, 15, 8, 50, tzinfo=UTC)
    clock = ManualClock(start=second + timedelta(seconds=join_fraction - ANSWERED_AND_QUEUED))
    sim = SimAsterisk(clock=clock)
    await sim.start()
    ami = await RawAmi.connect(sim.port)
    try:
        await ami.login()
        ami.originate("555011635", "1635")
        while not ami.events("QueueCallerJoin"):
            await _steps(clock, STEP)
        joined = (clock.now() - second).total_seconds()
        assert joined == pytest.approx(join_fraction, abs=0.002)
        await _steps(clock, 7.5)
        resp = await ami.action(
            "QueueAdd", Queue="dialer-q1", Interface="Local/agent-2@sim-agents", MemberName="A2"
        )
        assert resp.name == "Success"
        await _steps(clock, 3.0)
        return ami
    finally:
        await ami.close()
        await sim.stop()


async def test_a_ring_with_one_wall_clock_second_left_is_cut_at_1000_ms() -> None:
    """Joined at .996 of a second, rung 8.008 s later: 1.992 s left by a stopwatch, but the
    ring starts in the 9th wall-clock second of the 10, and app_queue gives it
    ``(expire - time(NULL)) * 1000`` = 1000 ms. The agent, answering after 1 s, is cut off
    and the caller leaves at once: abandoned, as the real Asterisk did with att-1633 and
    att-1635 of 16-load (RingTime 1000, HoldTime 10). The simulator connected it (the one
    call of 40 that ended otherwise when the recording was played against it)."""
    ami = await _rung_at_the_eighth_look(0.996)
    assert not ami.events("AgentConnect", "att-1635-a")
    (rna,) = ami.events("AgentRingNoAnswer", "att-1635-a")
    assert rna.get("RingTime") == "1000"
    (abandon,) = ami.events("QueueCallerAbandon", "att-1635-a")
    assert abandon.get("HoldTime") == "10"
    assert [m.get("Status") for m in ami.events("UserEvent", "att-1635-a")] == ["TIMEOUT"]


async def test_a_ring_with_two_wall_clock_seconds_left_reaches_the_agent() -> None:
    """The same call joining at .5 of a second: the ring starts in the 8th wall-clock second,
    gets 2000 ms, and the agent answers (HoldTime 9, as att-1637 of 16-load)."""
    ami = await _rung_at_the_eighth_look(0.5)
    assert not ami.events("AgentRingNoAnswer", "att-1635-a")
    (connect,) = ami.events("AgentConnect", "att-1635-a")
    assert (connect.get("HoldTime"), connect.get("RingTime")) == ("9", "1")


class _LaggingWallClock(ManualClock):
    """A clock whose wall-time read can fall behind its monotonic one, as two reads of a
    loaded machine do when the process is preempted between them (or the wall clock is
    slewed): ``lag`` seconds from when the test sets it."""

    lag = 0.0

    def now(self) -> datetime:
        return super().now() - timedelta(seconds=self.lag)


async def test_queue_time_does_not_follow_the_jitter_of_two_clock_reads() -> None:
    """A caller joining 0.5 ms into a wall-clock second with a 2 s limit and nobody free
    leaves after 2 whole seconds (QUEUEWAIT_MS 2000). The simulator read the wall clock and
    the monotonic clock anew for every moment, so a read 10 ms behind at the look after 2 s put it
    in the second before, and the caller waited a third second (CI, loaded: 3000 != 2000)."""
    second = datetime(2026, 11, 23, 15, 8, 50, tzinfo=UTC)
    # this call joins 2.001 s after the Originate (its ring, then the connect context)
    clock = _LaggingWallClock(start=second + timedelta(seconds=0.0005 - 2.001))
    sim = SimAsterisk(clock=clock)
    await sim.start()
    ami = await RawAmi.connect(sim.port)
    try:
        await ami.login()
        ami.originate("555011635", "1636", variables=["DIALER_CONNECT_TIMEOUT=2"])
        while not ami.events("QueueCallerJoin"):
            await _steps(clock, STEP)
        await _steps(clock, 1.5)
        clock.lag = 0.01  # the read at the look 2.002 s after the join, only
        await _steps(clock, 1.0)
        clock.lag = 0.0
        await _steps(clock, 1.5)
    finally:
        await ami.close()
        await sim.stop()
    waits = [
        m.get("Value")
        for m in ami.events("VarSet", "att-1636-a")
        if m.get("Variable") == "QUEUEWAIT_MS" and m.get("Value")
    ]
    assert waits == ["2000"]
    (abandon,) = ami.events("QueueCallerAbandon", "att-1636-a")
    assert abandon.get("HoldTime") == "2"
