"""Every recording of a real Asterisk, replayed through codec + trackers, gives the outcome the
recording shows (transcripts README, scenario table)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dialerd.ami.replay import ReplayResult, replay
from dialerd.ami.transcript import read_transcript
from dialerd.domain.enums import AgentState, CallResult


def _run(transcripts_dir: Path, name: str) -> ReplayResult:
    res = replay(read_transcript(transcripts_dir / name))
    assert res.protocol_errors == 0
    assert res.calls.open_count == 0, "an attempt was left open"
    ids = [o.attempt_id for o in res.outcomes]
    assert len(ids) == len(set(ids)), "an attempt got two outcomes"
    return res


def test_04_answered_and_connected_to_agent_1(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "04-answered-connected.txt")
    (o,) = res.outcomes
    assert o.result is CallResult.CONNECTED
    assert o.agent == "Local/agent-1@sim-agents" and o.agent_name == "Agent 1"
    assert o.connect_seconds == pytest.approx(1.004, abs=0.01)
    assert o.talk_seconds == 19
    assert o.hangup_cause == 16
    tl = o.timeline
    assert tl.ringing_at and tl.answered_at and tl.connected_at and tl.hungup_at
    assert tl.originated_at < tl.ringing_at < tl.answered_at < tl.connected_at < tl.hungup_at
    assert (tl.answered_at - tl.originated_at).total_seconds() == pytest.approx(2.0, abs=0.01)
    assert (tl.hungup_at - tl.connected_at).total_seconds() == pytest.approx(19.0, abs=0.1)
    states = [c.status.state for c in res.agent_changes]
    assert states == [
        AgentState.READY,
        AgentState.RINGING,
        AgentState.TALKING,
        AgentState.WRAPUP,
        AgentState.OFFLINE,
    ]


@pytest.mark.parametrize(
    ("name", "result", "cause"),
    [
        ("05-busy.txt", CallResult.BUSY, 17),
        ("06-no-answer.txt", CallResult.NO_ANSWER, 19),
        ("07-congestion.txt", CallResult.CONGESTION, 34),
    ],
)
def test_05_06_07_failed_originates(
    transcripts_dir: Path, name: str, result: CallResult, cause: int
) -> None:
    (o,) = _run(transcripts_dir, name).outcomes
    assert o.result is result
    assert o.hangup_cause == cause
    assert o.timeline.answered_at is None


def test_06_no_answer_closes_at_the_originate_timeout(transcripts_dir: Path) -> None:
    (o,) = _run(transcripts_dir, "06-no-answer.txt").outcomes
    assert o.timeline.hungup_at is not None
    rang = (o.timeline.hungup_at - o.timeline.originated_at).total_seconds()
    assert rang == pytest.approx(15.0, abs=0.05)


def test_08_unallocated_and_no_route_are_invalid_numbers(transcripts_dir: Path) -> None:
    a, b = _run(transcripts_dir, "08-invalid-number.txt").outcomes
    assert (a.attempt_id, a.result, a.hangup_cause) == ("att-0801", CallResult.INVALID_NUMBER, 1)
    assert (b.attempt_id, b.result) == ("att-0802", CallResult.INVALID_NUMBER)
    assert a.originate_reason == 0 and b.originate_reason == 0


def test_09_no_agent_is_abandoned_after_queue_timeout(transcripts_dir: Path) -> None:
    (o,) = _run(transcripts_dir, "09-abandoned-no-agent.txt").outcomes
    assert o.result is CallResult.ABANDONED
    assert "connect limit" in o.detail
    assert o.timeline.answered_at is not None and o.agent is None


def test_10_caller_hanging_up_in_queue_is_abandoned(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "10-caller-hangs-up-in-queue.txt")
    (o,) = res.outcomes
    assert o.result is CallResult.ABANDONED
    assert "hung up while waiting" in o.detail
    # The member was added paused and never rung.
    assert [c.status.state for c in res.agent_changes] == [AgentState.PAUSED, AgentState.OFFLINE]


def test_11_connected_to_agent_2_after_ring_no_answer(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "11-agent-ring-no-answer.txt")
    (o,) = res.outcomes
    assert o.result is CallResult.CONNECTED
    assert o.agent == "Local/agent-2@sim-agents"
    assert o.connect_seconds == pytest.approx(7.0, abs=0.01)
    rna = [
        (c.previous, c.status.state)
        for c in res.agent_changes
        if c.status.interface == "Local/rna-agent-1@sim-agents"
    ]
    assert (AgentState.RINGING, AgentState.READY) in rna


def test_11b_queue_timeout_while_member_rings_is_abandoned(transcripts_dir: Path) -> None:
    (o,) = _run(transcripts_dir, "11b-rna-penalty-queue-timeout.txt").outcomes
    assert o.result is CallResult.ABANDONED


def test_12_failed_originates_without_channel_id(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "12-failed-without-channelid.txt")
    by_id = {o.attempt_id: o for o in res.outcomes}
    assert by_id["att-1201"].result is CallResult.BUSY
    assert by_id["att-1202"].result is CallResult.INVALID_NUMBER
    assert by_id["att-1202"].hangup_cause == 1


def test_13_four_concurrent_calls(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "13-concurrent.txt")
    by_id = {o.attempt_id: o for o in res.outcomes}
    assert {k: v.result for k, v in by_id.items()} == {
        "att-1301": CallResult.CONNECTED,
        "att-1302": CallResult.CONNECTED,
        "att-1303": CallResult.BUSY,
        "att-1304": CallResult.NO_ANSWER,
    }
    assert {by_id["att-1301"].agent, by_id["att-1302"].agent} == {
        "Local/agent-1@sim-agents",
        "Local/agent-2@sim-agents",
    }


def test_14_restart_during_call_closes_failed_unknown(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "14-restart-during-call.txt")
    (o,) = res.outcomes
    assert o.result is CallResult.FAILED_UNKNOWN
    assert "restarted" in o.detail
    # The timeline keeps what was known: the agent talked to the person.
    assert o.agent == "Local/agent-1@sim-agents" and o.timeline.connected_at is not None
    # The runtime member is gone after the restart.
    assert res.agents.get("Local/agent-1@sim-agents").state is AgentState.OFFLINE  # type: ignore[union-attr]


def test_15_amd_machine_abandoned_connected(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "15-amd.txt")
    by_id = {o.attempt_id: o for o in res.outcomes}
    assert by_id["att-1501"].result is CallResult.MACHINE
    assert by_id["att-1501"].amd_cause == "LONGGREETING-1500-1500"
    assert by_id["att-1502"].result is CallResult.ABANDONED
    assert by_id["att-1502"].amd_status == "NOTSURE"
    assert by_id["att-1503"].result is CallResult.CONNECTED
    assert by_id["att-1503"].amd_status == "HUMAN"


def test_16_load_counts(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "16-load.txt")
    assert len(res.outcomes) == 40
    assert Counter(o.result for o in res.outcomes) == {
        CallResult.ABANDONED: 22,
        CallResult.CONNECTED: 8,
        CallResult.BUSY: 4,
        CallResult.NO_ANSWER: 3,
        CallResult.CONGESTION: 3,
    }
    abandons = Counter(
        "hung up" in o.detail for o in res.outcomes if o.result is CallResult.ABANDONED
    )
    assert abandons == {False: 18, True: 4}


@pytest.mark.parametrize("name", ["01-login.txt", "02-status-empty.txt", "03-agents.txt"])
def test_sessions_without_calls_give_no_outcome(transcripts_dir: Path, name: str) -> None:
    assert _run(transcripts_dir, name).outcomes == []


def test_03_agents_pause_and_remove(transcripts_dir: Path) -> None:
    res = _run(transcripts_dir, "03-agents.txt")
    a2 = [
        c.status.state
        for c in res.agent_changes
        if c.status.interface.endswith("agent-2@sim-agents")
    ]
    assert a2 == [AgentState.READY, AgentState.PAUSED, AgentState.READY, AgentState.OFFLINE]


# Recordings made against Asterisk 22.10.1 built from source with asterisk-test/ (see
# tests/data/asterisk-22.10.1/README.md); the noise events the link drops are left out.
OWN_RECORDINGS = Path(__file__).resolve().parent.parent / "data" / "asterisk-22.10.1"


def test_18_penalty_and_an_agent_complete_without_channel_fields() -> None:
    """agent-1 (penalty 0) takes the first caller, agent-2 (penalty 10) the second one while
    agent-1 talks; agent-1's AgentComplete came after every Hangup, without channel fields:
    still the end of that call, with the queue's wrap-up."""
    res = replay(
        read_transcript(OWN_RECORDINGS / "18-penalty-busy.txt"),
        wrapup_seconds=30.0,
        wrapup_by_queue={"dialer-q1": 5.0},
    )
    assert res.protocol_errors == 0 and res.calls.open_count == 0
    first, second = res.outcome("att-1801"), res.outcome("att-1802")
    assert (first.result, first.agent) == (CallResult.CONNECTED, "Local/agent-1@sim-agents")
    assert (second.result, second.agent) == (CallResult.CONNECTED, "Local/agent-2@sim-agents")
    wrapups = [
        c.status
        for c in res.agent_changes
        if c.status.interface == "Local/agent-1@sim-agents" and c.status.state is AgentState.WRAPUP
    ]
    last = wrapups[-1]
    assert last.call_id == "att-1801-a" and last.wrapup_until is not None
    assert (last.wrapup_until - last.since).total_seconds() == pytest.approx(5.0, abs=0.01)


def test_20_a_queue_asterisk_does_not_have_abandons_the_call_at_once() -> None:
    (o,) = _run(OWN_RECORDINGS, "20-unknown-queue-in-dialplan.txt").outcomes
    assert o.result is CallResult.ABANDONED
    assert "UNKNOWN" in o.detail
    assert o.timeline.answered_at is not None and o.timeline.connected_at is None
