"""What a runner notes on a call as its AMI events reach the inbox, before the loop takes them
in (the loop waits while the database is away): only that, and to whom, it was connected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialerd.ami import CallOutcome, CallPhase, CallProgress, CallTimeline
from dialerd.domain.enums import CallResult, Status
from dialerd.domain.model import Contact
from dialerd.engine.runner import _Call

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
AGENT = "Local/agent-1@sim-agents"


def _call(preview_agent: str | None = None) -> _Call:
    contact = Contact(1, 1, 1, Status.OPEN, "$none", phone="555010001")
    return _Call("d1-a", contact, "555010001", "sim1", T0, preview_agent=preview_agent)


def test_ringing_or_answered_is_not_a_connect() -> None:
    call = _call(preview_agent=AGENT)  # a preview call names its agent from the start
    for phase in (CallPhase.RINGING, CallPhase.ANSWERED, CallPhase.QUEUED):
        call.heard(CallProgress("d1-a", phase, T0 + timedelta(seconds=2)))
    unanswered = CallOutcome("d1-a", CallResult.NO_ANSWER, CallTimeline(T0), "no answer")
    call.heard(unanswered)
    assert (call.connect_heard, call.agent, call.connected_at) == (None, None, None)


def test_a_connect_names_the_agent_and_leaves_the_rest_to_the_loop() -> None:
    call = _call()
    call.heard(CallProgress("d1-a", CallPhase.CONNECTED, T0 + timedelta(seconds=3), AGENT))
    assert (call.connect_heard, call.agent) == (T0 + timedelta(seconds=3), AGENT)
    # the timeline and the result are the loop's to set when it takes the events in
    assert (call.connected_at, call.phase, call.result) == (None, CallPhase.DIALING, None)

    ended = _call()
    timeline = CallTimeline(T0, connected_at=T0 + timedelta(seconds=3))
    ended.heard(CallOutcome("d1-a", CallResult.CONNECTED, timeline, "talked", agent=AGENT))
    assert (ended.connect_heard, ended.agent, ended.result) == (
        T0 + timedelta(seconds=3),
        AGENT,
        None,
    )
