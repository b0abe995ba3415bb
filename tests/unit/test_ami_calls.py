"""Call tracker: order independence, link loss, expiry."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.ami.calls import CallOutcome, CallPhase, CallProgress, CallTracker, CallUpdate
from dialerd.ami.codec import AmiDecoder, Message
from dialerd.ami.events import (
    AgentComplete,
    AgentConnect,
    AmiEvent,
    ChannelHangup,
    DialerAMD,
    DialPhase,
    DialProgress,
    NewChannel,
    OriginateResult,
    QueueCallerAbandon,
    normalise,
)
from dialerd.ami.transcript import Received, read_transcript
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import CallResult

SHARED = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "transcripts"


def _recorded_events(path: Path) -> list[tuple[float, AmiEvent]]:
    dec = AmiDecoder()
    out: list[tuple[float, AmiEvent]] = []
    for item in read_transcript(path):
        if isinstance(item, Received):
            for m in dec.feed(item.data):
                if isinstance(m, Message):
                    ev = normalise(m)
                    if ev is not None:
                        out.append((item.t, ev))
    return out


def _track(
    attempt: str, events: list[tuple[float, AmiEvent]], *, with_ids: bool = True
) -> tuple[list[CallOutcome], list[CallProgress]]:
    clock = ManualClock()
    tracker = CallTracker(clock)
    tracker.expect(
        attempt,
        dial_string="Local/x@sim-callees",
        action_id=attempt,
        channel_id=f"{attempt}-a",
        other_channel_id=f"{attempt}-b",
    )
    outcomes: list[CallOutcome] = []
    progress: list[CallProgress] = []
    for t, ev in events:
        if t > clock.monotonic():
            clock.advance(t - clock.monotonic())
        for u in tracker.handle(ev):
            (outcomes if isinstance(u, CallOutcome) else progress).append(u)
    clock.advance(60)
    for u in tracker.expire():
        assert isinstance(u, CallOutcome)
        outcomes.append(u)
    return outcomes, progress


CASES = {
    "04-answered-connected.txt": ("att-0401", CallResult.CONNECTED),
    "05-busy.txt": ("att-0501", CallResult.BUSY),
    "06-no-answer.txt": ("att-0601", CallResult.NO_ANSWER),
    "07-congestion.txt": ("att-0701", CallResult.CONGESTION),
    "09-abandoned-no-agent.txt": ("att-0901", CallResult.ABANDONED),
    "10-caller-hangs-up-in-queue.txt": ("att-1001", CallResult.ABANDONED),
    "11-agent-ring-no-answer.txt": ("att-1101", CallResult.CONNECTED),
}


@functools.cache
def _cached_events(name: str) -> tuple[tuple[float, AmiEvent], ...]:
    return tuple(_recorded_events(SHARED / name))


def _call_events(name: str) -> list[tuple[float, AmiEvent]]:
    if not SHARED.is_dir():
        pytest.skip(f"recordings not found at {SHARED}")
    return list(_cached_events(name))


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_outcome_does_not_depend_on_the_orders_asterisk_varies(
    name: str, data: st.DataObject
) -> None:
    """README "Order differences": OriginateResponse anywhere after the channels exist
    (before/after DialEnd, Hangups, QueueCallerJoin, AgentCalled); the final Hangups and
    AgentComplete in any order."""
    attempt, expected = CASES[name]
    events = _call_events(name)
    times = [t for t, _ in events]
    evs = [e for _, e in events]
    rr = next(e for e in evs if isinstance(e, OriginateResult))
    evs.remove(rr)
    first_hangup = next(
        i
        for i, e in enumerate(evs)
        if (isinstance(e, ChannelHangup) and e.uniqueid.startswith(attempt))
        or isinstance(e, AgentComplete)
    )
    tail = data.draw(st.permutations(evs[first_hangup:]))
    evs = evs[:first_hangup] + list(tail)
    # The Local pair's two Newchannel events always come first.
    pair = [i for i, e in enumerate(evs) if isinstance(e, NewChannel)][:2]
    pos = data.draw(st.integers(min_value=pair[-1] + 1, max_value=len(evs)))
    evs.insert(pos, rr)
    outcomes, _ = _track(attempt, list(zip(times, evs, strict=True)))
    assert len(outcomes) == 1
    assert outcomes[0].result is expected


def test_each_phase_is_reported_once_and_in_order() -> None:
    _, progress = _track("att-0401", _call_events("04-answered-connected.txt"))
    assert [p.phase for p in progress] == [
        CallPhase.RINGING,
        CallPhase.ANSWERED,
        CallPhase.QUEUED,
        CallPhase.CONNECTED,
    ]
    assert progress[-1].agent == "Local/agent-1@sim-agents"


def _expect(tracker: CallTracker, attempt: str = "a1") -> None:
    tracker.expect(
        attempt,
        dial_string="Local/555@sim-callees",
        action_id=f"orig-{attempt}",
        channel_id=f"{attempt}-a",
        other_channel_id=f"{attempt}-b",
        ring_timeout=20,
    )


def _newchannels(tracker: CallTracker, attempt: str = "a1") -> None:
    for half, uid in ((1, f"{attempt}-a"), (2, f"{attempt}-b")):
        tracker.handle(
            NewChannel(uid, f"{attempt}-a", f"Local/555@sim-callees-00000001;{half}", "")
        )


def test_link_lost_then_calls_gone_closes_failed_unknown_once() -> None:
    clock = ManualClock()
    tracker = CallTracker(clock)
    _expect(tracker)
    _newchannels(tracker)
    tracker.handle(OriginateResult("orig-a1", True, 4, "a1-a", "Local/555@sim-callees-1;1"))
    tracker.link_lost()
    (o,) = tracker.resync(set(), restarted=True)
    assert isinstance(o, CallOutcome)
    assert o.result is CallResult.FAILED_UNKNOWN and "restarted" in o.detail
    assert tracker.open_count == 0
    # Late events of the closed attempt are ignored, not a second outcome.
    assert tracker.handle(ChannelHangup("a1-a", "a1-a", "x;1", 16, "")) == []


def test_link_lost_with_call_still_alive_keeps_tracking() -> None:
    clock = ManualClock()
    tracker = CallTracker(clock)
    _expect(tracker)
    _newchannels(tracker)
    tracker.link_lost()
    assert tracker.open_calls()[0].in_doubt
    assert tracker.resync({"a1-a", "a1-b"}) == []
    assert not tracker.open_calls()[0].in_doubt
    tracker.handle(OriginateResult("orig-a1", False, 5, "a1-a", "Local/555@sim-callees"))
    tracker.handle(ChannelHangup("a1-b", "a1-a", "x;2", 17, "User busy"))
    (o,) = tracker.handle(ChannelHangup("a1-a", "a1-a", "x;1", 0, ""))
    assert isinstance(o, CallOutcome) and o.result is CallResult.BUSY


def test_facts_seen_before_the_drop_still_count() -> None:
    tracker = CallTracker(ManualClock())
    _expect(tracker)
    _newchannels(tracker)
    tracker.handle(OriginateResult("orig-a1", False, 5, "a1-a", "Local/555@sim-callees"))
    tracker.link_lost()
    (o,) = tracker.resync(set())
    assert isinstance(o, CallOutcome) and o.result is CallResult.BUSY


def test_in_doubt_attempts_close_after_the_limit_when_no_resync_comes() -> None:
    clock = ManualClock()
    tracker = CallTracker(clock, in_doubt_limit=30)
    _expect(tracker)
    tracker.link_lost()
    clock.advance(29)
    assert tracker.expire() == []
    clock.advance(1)
    (o,) = tracker.expire()
    assert isinstance(o, CallOutcome) and o.result is CallResult.FAILED_UNKNOWN


def test_a_call_closed_in_doubt_has_no_end_time_and_no_talk_time() -> None:
    """Its end was not seen: the time the tracker gave up is no hang-up (stored as one, it
    made the talk as long as the outage)."""
    clock = ManualClock()
    tracker = CallTracker(clock, in_doubt_limit=60)
    _expect(tracker)
    _newchannels(tracker)
    tracker.handle(OriginateResult("orig-a1", True, 4, "a1-a", "Local/555@sim-callees-1;1"))
    tracker.handle(
        AgentConnect("q", "a1-a", "a1-a", "Local/agent-1@sim-agents", "Agent 1", "g1", 0.0, 1.0)
    )
    clock.advance(5)
    tracker.link_lost()
    clock.advance(60)
    (o,) = tracker.expire()
    assert isinstance(o, CallOutcome) and o.result is CallResult.FAILED_UNKNOWN
    assert o.timeline.connected_at is not None
    assert o.timeline.hungup_at is None
    assert o.talk_seconds is None


def test_failed_originate_without_any_channel_closes_after_grace() -> None:
    clock = ManualClock()
    tracker = CallTracker(clock, grace=2)
    _expect(tracker)
    assert tracker.handle(OriginateResult("orig-a1", False, 0, "a1-a", "Local/555@x")) == []
    clock.advance(2)
    (o,) = tracker.expire()
    assert isinstance(o, CallOutcome) and o.result is CallResult.FAILED_UNKNOWN


def test_reason_zero_alone_is_not_invalid() -> None:
    tracker = CallTracker(ManualClock())
    _expect(tracker)
    _newchannels(tracker)
    tracker.handle(DialProgress(DialPhase.BEGIN, None, "a1-a", "a1-a", "x;1", ""))
    tracker.handle(OriginateResult("orig-a1", False, 0, "a1-a", "Local/555@x"))
    tracker.handle(ChannelHangup("a1-b", "a1-a", "x;2", 0, ""))
    (o,) = tracker.handle(ChannelHangup("a1-a", "a1-a", "x;1", 0, ""))
    assert isinstance(o, CallOutcome) and o.result is CallResult.FAILED_UNKNOWN


def test_missing_originate_response_is_bounded() -> None:
    clock = ManualClock()
    tracker = CallTracker(clock, originate_margin=10)
    _expect(tracker)
    clock.advance(29)
    assert tracker.expire() == []
    clock.advance(1)
    (o,) = tracker.expire()
    assert isinstance(o, CallOutcome) and "no OriginateResponse" in o.detail


def test_forget_drops_an_attempt_that_was_never_sent() -> None:
    tracker = CallTracker(ManualClock())
    _expect(tracker)
    tracker.forget("a1")
    assert tracker.open_count == 0
    with pytest.raises(ValueError):
        _expect(tracker, "a2")
        _expect(tracker, "a2")


_IDS = st.sampled_from(["a1-a", "a1-b", "a2-a", "a2-b", "agent.1", None])
_LINKED = st.sampled_from(["a1-a", "a2-a", "zz", None])
_EVENTS = st.one_of(
    st.builds(
        NewChannel,
        st.sampled_from(["a1-a", "a1-b", "a2-a", "agent.1"]),
        _LINKED,
        st.sampled_from(["Local/5@x-00000001;1", "Local/5@x-00000001;2", "PJSIP/1-1"]),
        st.just(""),
    ),
    st.builds(
        ChannelHangup,
        st.sampled_from(["a1-a", "a1-b", "a2-a", "agent.1"]),
        _LINKED,
        st.just("x"),
        st.one_of(st.none(), st.integers(0, 40)),
        st.just(""),
    ),
    st.builds(
        OriginateResult,
        st.sampled_from(["orig-a1", "orig-a2", "x"]),
        st.booleans(),
        st.one_of(st.none(), st.sampled_from([0, 3, 4, 5, 8])),
        _IDS,
        st.just("x"),
    ),
    st.builds(
        DialProgress,
        st.sampled_from(list(DialPhase)),
        st.none(),
        _IDS,
        _LINKED,
        st.just("x"),
        st.sampled_from(["ANSWER", "BUSY", "RINGING", "NOANSWER"]),
    ),
    st.builds(
        QueueCallerAbandon,
        st.just("q"),
        st.sampled_from(["a1-a", "a2-a"]),
        _LINKED,
        st.none(),
        st.none(),
        st.none(),
    ),
    st.builds(
        AgentConnect,
        st.just("q"),
        st.sampled_from(["a1-a", "a2-a"]),
        _LINKED,
        st.just("PJSIP/1"),
        st.just("A"),
        st.just("agent.1"),
        st.none(),
        st.none(),
    ),
    st.builds(
        DialerAMD,
        st.sampled_from(["a1-a", "a2-a"]),
        _LINKED,
        st.sampled_from(["MACHINE", "HUMAN"]),
        st.just(""),
    ),
)


@given(st.lists(st.tuples(_EVENTS, st.floats(0, 5)), max_size=40), st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_event_soup_gives_each_attempt_exactly_one_outcome(
    events: list[tuple[AmiEvent, float]], lose_link: bool
) -> None:
    clock = ManualClock()
    tracker = CallTracker(clock, grace=2, in_doubt_limit=10, originate_margin=5)
    for a in ("a1", "a2"):
        _expect(tracker, a)
    outcomes: list[CallOutcome] = []

    def take(updates: list[CallUpdate]) -> None:
        outcomes.extend(u for u in updates if isinstance(u, CallOutcome))

    for ev, dt in events:
        clock.advance(dt)
        take(tracker.handle(ev))
        take(tracker.expire())
    if lose_link:
        tracker.link_lost()
        take(tracker.resync(set(), restarted=True))
    clock.advance(4 * 3600)
    take(tracker.expire())
    assert sorted(o.attempt_id for o in outcomes) == ["a1", "a2"]
    assert tracker.open_count == 0
