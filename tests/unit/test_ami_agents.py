"""Agent tracker: states from queue events, dialerd's own wrap-up, resync."""

from __future__ import annotations

from dialerd.ami.agents import AgentTracker
from dialerd.ami.codec import AmiDecoder, Message
from dialerd.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    ChannelHangup,
    MemberChange,
    QueueMemberEvent,
    normalise,
)
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import AgentState

A1 = "PJSIP/101"
Q = "sales"


def _member(
    change: MemberChange,
    *,
    queue: str = Q,
    interface: str = A1,
    paused: bool = False,
    status: int | None = 1,
    reason: str = "",
) -> QueueMemberEvent:
    return QueueMemberEvent(change, queue, interface, "Anna", paused, reason, status, False)


def _called(leg: str = "leg-1") -> AgentCalled:
    return AgentCalled(Q, "c-a", "c-a", A1, "Anna", leg)


def _connect(leg: str = "leg-1") -> AgentConnect:
    return AgentConnect(Q, "c-a", "c-a", A1, "Anna", leg, 1.0, 1.0)


def _complete() -> AgentComplete:
    return AgentComplete(Q, "c-a", "c-a", A1, "Anna", "leg-1", 1.0, 30.0, "caller")


def _state(t: AgentTracker) -> AgentState:
    status = t.get(A1)
    assert status is not None
    return status.state


def test_call_cycle_with_wrapup_timer_and_entry_times() -> None:
    clock = ManualClock()
    t = AgentTracker(clock, wrapup_seconds=10)
    t.handle(_member(MemberChange.ADDED))
    assert _state(t) is AgentState.READY
    clock.advance(5)
    (change,) = t.handle(_called())
    assert (change.previous, change.status.state) == (AgentState.READY, AgentState.RINGING)
    assert change.status.since == clock.now()
    assert change.status.call_id == "c-a"
    clock.advance(2)
    t.handle(_connect())
    clock.advance(30)
    t.handle(_complete())
    status = t.get(A1)
    assert status is not None and status.state is AgentState.WRAPUP
    assert status.wrapup_until is not None
    assert (status.wrapup_until - status.since).total_seconds() == 10
    clock.advance(9.9)
    assert t.tick() == []
    clock.advance(0.1)
    (change,) = t.tick()
    assert change.status.state is AgentState.READY and change.status.since == clock.now()


def test_disposition_ends_wrapup_early() -> None:
    t = AgentTracker(ManualClock(), wrapup_seconds=600)
    t.handle(_member(MemberChange.ADDED))
    t.handle(_connect())
    t.handle(_complete())
    assert _state(t) is AgentState.WRAPUP
    (change,) = t.end_wrapup(A1)
    assert change.status.state is AgentState.READY
    assert t.end_wrapup(A1) == []


def test_a_disposition_ends_the_wrapup_of_its_own_call_only() -> None:
    """A disposition written late (the database was away) must not end the wrap-up of the
    call the agent took since."""
    t = AgentTracker(ManualClock(), wrapup_seconds=600)
    t.handle(_member(MemberChange.ADDED))
    t.handle(_connect())
    t.handle(_complete())  # wrap-up after call "c-a"
    assert t.end_wrapup(A1, "an-earlier-call") == []
    assert _state(t) is AgentState.WRAPUP
    (change,) = t.end_wrapup(A1, "c-a")
    assert change.status.state is AgentState.READY


def test_wrapup_per_queue() -> None:
    clock = ManualClock()
    t = AgentTracker(clock, wrapup_seconds=100, wrapup_by_queue={Q: 2})
    t.handle(_member(MemberChange.ADDED))
    t.handle(_complete())
    clock.advance(2)
    assert [c.status.state for c in t.tick()] == [AgentState.READY]


# As Asterisk 22.10.1 sent it (asterisk-test, recording 17-penalty at 22.093): after all four
# Hangups of the call, with none of the caller's or the agent's channel fields.
BARE_AGENT_COMPLETE = (
    b"Event: AgentComplete\r\nPrivilege: agent,all\r\nQueue: sales\r\n"
    b"Interface: PJSIP/101\r\nMemberName: Anna\r\nHoldTime: 1\r\nTalkTime: 19\r\n"
    b"Reason: caller\r\n\r\n"
)


def test_agent_complete_without_channel_fields_starts_its_queues_wrapup_for_that_call() -> None:
    clock = ManualClock()
    t = AgentTracker(clock, wrapup_seconds=30, wrapup_by_queue={Q: 5})
    t.handle(_member(MemberChange.ADDED))
    t.handle(_called())
    t.handle(_connect())
    clock.advance(19)
    t.handle(ChannelHangup("leg-1", "c-a", "Local/agent-1@x;1", 16, ""))
    (msg,) = AmiDecoder(expect_banner=False).feed(BARE_AGENT_COMPLETE)
    assert isinstance(msg, Message)
    event = normalise(msg)
    assert isinstance(event, AgentComplete)
    assert (event.uniqueid, event.linkedid, event.talk_seconds) == (None, None, 19.0)
    t.handle(event)
    status = t.get(A1)
    assert status is not None and status.state is AgentState.WRAPUP
    assert status.call_id == "c-a"  # a late disposition of an older call does not end it
    assert status.wrapup_until is not None
    assert (status.wrapup_until - clock.now()).total_seconds() == 5  # the queue's, not 30
    assert t.end_wrapup(A1, "an-older-call") == []


def test_ring_no_answer_returns_to_ready_and_lost_events_are_covered_by_hangup() -> None:
    t = AgentTracker(ManualClock())
    t.handle(_member(MemberChange.ADDED))
    t.handle(_called())
    t.handle(AgentRingNoAnswer(Q, "c-a", "c-a", A1, "Anna", "leg-1", 5.0))
    assert _state(t) is AgentState.READY
    # Ringing ended by the agent leg's Hangup alone (AgentRingNoAnswer lost).
    t.handle(_called("leg-2"))
    t.handle(ChannelHangup("leg-2", "c-a", "Local/agent-1@x;1", 0, ""))
    assert _state(t) is AgentState.READY
    # Talking ended by the Hangup alone (AgentComplete lost): wrap-up anyway.
    t.handle(_connect("leg-3"))
    t.handle(ChannelHangup("leg-3", "c-a", "Local/agent-1@x;1", 16, ""))
    assert _state(t) is AgentState.WRAPUP


def test_pause_in_every_queue_is_paused_in_one_is_still_ready() -> None:
    t = AgentTracker(ManualClock())
    t.handle(_member(MemberChange.ADDED, queue="a"))
    t.handle(_member(MemberChange.ADDED, queue="b"))
    t.handle(_member(MemberChange.PAUSE, queue="a", paused=True, reason="lunch"))
    assert _state(t) is AgentState.READY
    t.handle(_member(MemberChange.PAUSE, queue="b", paused=True, reason="lunch"))
    assert _state(t) is AgentState.PAUSED
    assert t.get(A1).paused_reason == "lunch"  # type: ignore[union-attr]
    t.note_paused(A1, False)
    assert _state(t) is AgentState.READY


def test_paused_during_a_call_stays_talking_then_goes_paused() -> None:
    t = AgentTracker(ManualClock())
    t.handle(_member(MemberChange.ADDED))
    t.handle(_connect())
    t.handle(_member(MemberChange.PAUSE, paused=True))
    assert _state(t) is AgentState.TALKING
    t.handle(_complete())
    t.end_wrapup(A1)
    assert _state(t) is AgentState.PAUSED


def test_unavailable_device_is_offline_and_removal_too() -> None:
    t = AgentTracker(ManualClock())
    t.handle(_member(MemberChange.ADDED))
    t.handle(_member(MemberChange.STATUS, status=5))
    assert _state(t) is AgentState.OFFLINE
    t.handle(_member(MemberChange.STATUS, status=1))
    assert _state(t) is AgentState.READY
    t.handle(_member(MemberChange.REMOVED))
    assert _state(t) is AgentState.OFFLINE
    assert t.count_by_state()[AgentState.OFFLINE] == 1


def test_resync_drops_members_asterisk_forgot_and_reads_listing() -> None:
    t = AgentTracker(ManualClock(), wrapup_seconds=5)
    t.handle(_member(MemberChange.ADDED))
    t.handle(_member(MemberChange.ADDED, interface="PJSIP/102"))
    t.handle(_connect())
    listing = [
        _member(MemberChange.LISTED, status=1),  # A1: its talk ended while we were away
        _member(MemberChange.LISTED, interface="PJSIP/103", paused=True, reason="break"),
    ]
    t.resync(listing)
    assert _state(t) is AgentState.WRAPUP
    assert t.get("PJSIP/102").state is AgentState.OFFLINE  # type: ignore[union-attr]
    assert t.get("PJSIP/103").state is AgentState.PAUSED  # type: ignore[union-attr]


def test_a_call_event_proves_membership_of_an_agent_not_seen_before() -> None:
    t = AgentTracker(ManualClock())
    t.handle(_called())
    status = t.get(A1)
    assert status is not None
    assert status.state is AgentState.RINGING and status.queues == frozenset({Q})


def test_logout_during_a_call_stays_logged_out_after_it() -> None:
    t = AgentTracker(ManualClock(), wrapup_seconds=1)
    t.handle(_member(MemberChange.ADDED))
    t.handle(_called())
    t.handle(_connect())
    t.handle(_member(MemberChange.REMOVED))
    t.handle(_complete())
    assert _state(t) is AgentState.OFFLINE


def test_joining_or_leaving_a_queue_in_the_same_state_is_reported() -> None:
    """A campaign whose queue a ready agent joins learns of the agent at once, not at the
    agent's next call."""
    t = AgentTracker(ManualClock())
    [first] = t.handle(_member(MemberChange.ADDED, queue="a"))
    assert first.status.queues == {"a"} and first.status.state is AgentState.READY
    [joined] = t.handle(_member(MemberChange.ADDED, queue="b"))
    assert joined.previous is AgentState.READY and joined.status.queues == {"a", "b"}
    assert joined.status.since == first.status.since  # still ready since the first queue
    assert t.handle(_member(MemberChange.ADDED, queue="b")) == []  # nothing new: no change
    [left] = t.note_removed("a", A1)
    assert left.status.queues == {"b"} and left.status.state is AgentState.READY
