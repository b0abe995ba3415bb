"""The snapshot leaves out agents and calls whose state is not known (the link to their
Asterisk is lost), and a call whose end was not seen teaches the estimates nothing."""

from __future__ import annotations

from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing import PacingSettings, SnapshotBuilder, decide


def _builder() -> SnapshotBuilder:
    b = SnapshotBuilder(PacingSettings(dial_mode=DialMode.PROGRESSIVE), trunk_lines=10)
    for agent in ("e1", "e2"):
        b.agent_state(agent, AgentState.READY, 0.0)
    b.agent_state("w1", AgentState.READY, 0.0)
    b.agent_state("w2", AgentState.TALKING, 0.0)
    b.agent_state("w3", AgentState.WRAPUP, 0.0, wrapup_s=30.0)
    b.agent_state("w4", AgentState.PAUSED, 0.0)
    b.agent_state("w5", AgentState.OFFLINE, 0.0)
    b.call_placed("east-call", 1.0)
    b.call_placed("west-call", 1.0)
    b.call_placed("west-answered", 1.0)
    b.call_answered("west-answered", 2.0)
    return b


def test_agents_and_calls_of_a_lost_server_are_left_out_and_count_again_when_it_is_back() -> None:
    b = _builder()
    whole = b.build(5.0)
    assert (len(whole.ready), len(whole.talking), len(whole.wrapup), len(whole.paused)) == (
        3,
        1,
        1,
        1,
    )
    assert (whole.offline, whole.calls_in_flight, whole.free_lines) == (1, 3, 7)
    assert decide(whole) == 0  # three ready, three calls up
    b.unseen_agents = frozenset({"w1", "w2", "w3", "w4", "w5"})
    b.unseen_calls = frozenset({"west-call", "west-answered"})
    seen = b.build(6.0)
    assert (len(seen.ready), len(seen.talking), len(seen.wrapup), len(seen.paused)) == (
        2,
        0,
        0,
        0,
    )
    assert seen.offline == 0
    assert (len(seen.ringing), len(seen.queued)) == (1, 0)
    assert seen.free_lines == 7  # the lost server's calls still take their lines
    assert decide(seen) == 1  # two ready agents on the server that is up, one call there
    b.unseen_agents = b.unseen_calls = frozenset()
    assert b.build(7.0).calls_in_flight == 3
    assert len(b.build(7.0).ready) == 3


def test_a_call_closed_as_failed_unknown_does_not_lower_the_answer_rate() -> None:
    b = _builder()
    before = b.estimates.estimates()
    b.call_ended("west-call", 61.0, CallResult.FAILED_UNKNOWN)
    after = b.estimates.estimates()
    assert (after.samples, after.answer_probability) == (
        before.samples,
        before.answer_probability,
    )
    assert b.calls_in_flight == 2
    b.call_ended("east-call", 26.0, CallResult.NO_ANSWER)
    assert b.estimates.estimates().samples == before.samples + 1
