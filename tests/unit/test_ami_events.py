"""Typed events: field mapping, units, noise, bad values; Originate fields; backoff."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from dialerd.ami.backoff import Backoff
from dialerd.ami.codec import Message, MessageKind
from dialerd.ami.events import (
    AgentConnect,
    AgentRingNoAnswer,
    DialPhase,
    DialProgress,
    MemberChange,
    OriginateResult,
    QueueMemberEvent,
    normalise,
)
from dialerd.ami.link import OriginateRequest


def _event(name: str, **fields: str) -> Message:
    return Message(MessageKind.EVENT, name, (("Event", name), *fields.items()))


def test_originate_response_unknown_uniqueid_becomes_none() -> None:
    ev = normalise(
        _event(
            "OriginateResponse",
            ActionID="att-1",
            Response="Failure",
            Reason="5",
            Uniqueid="<unknown>",
            Channel="Local/555@sim-callees",
        )
    )
    assert ev == OriginateResult("att-1", False, 5, None, "Local/555@sim-callees")


def test_ring_no_answer_milliseconds_become_seconds() -> None:
    ev = normalise(
        _event(
            "AgentRingNoAnswer",
            Queue="q",
            Uniqueid="c",
            Linkedid="c",
            Interface="PJSIP/1",
            MemberName="A",
            DestUniqueid="d",
            RingTime="5000",
        )
    )
    assert isinstance(ev, AgentRingNoAnswer) and ev.ring_seconds == 5.0
    ev2 = normalise(
        _event("AgentConnect", Queue="q", Uniqueid="c", Interface="PJSIP/1", RingTime="3")
    )
    assert isinstance(ev2, AgentConnect) and ev2.ring_seconds == 3.0


def test_queue_status_items_use_name_and_location() -> None:
    ev = normalise(
        _event("QueueMember", Queue="q", Name="Agent 1", Location="Local/agent-1@x", Paused="1")
    )
    assert isinstance(ev, QueueMemberEvent)
    assert (ev.change, ev.interface, ev.member_name, ev.paused) == (
        MemberChange.LISTED,
        "Local/agent-1@x",
        "Agent 1",
        True,
    )


def test_originate_dial_events_have_no_caller() -> None:
    ev = normalise(
        _event(
            "DialEnd", DestUniqueid="a-a", DestLinkedid="a-a", DialStatus="BUSY", DestChannel="x"
        )
    )
    assert ev == DialProgress(DialPhase.END, None, "a-a", "a-a", "x", "BUSY")


def test_noise_responses_and_unknown_user_events_are_dropped() -> None:
    assert normalise(_event("VarSet", Variable="X")) is None
    assert normalise(_event("UserEvent", UserEvent="Other", Uniqueid="u")) is None
    assert normalise(Message(MessageKind.RESPONSE, "Success", (("Response", "Success"),))) is None


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Uniqueid",
                "Cause",
                "Reason",
                "HoldTime",
                "Linkedid",
                "Queue",
                "Interface",
                "RingTime",
                "Paused",
                "Status",
            ]
        ),
        st.text(max_size=8),
    )
)
def test_bad_values_never_raise(fields: dict[str, str]) -> None:
    for name in (
        "Hangup",
        "OriginateResponse",
        "AgentConnect",
        "AgentRingNoAnswer",
        "QueueCallerAbandon",
        "QueueMemberStatus",
        "QueueMember",
        "UserEvent",
        "Newchannel",
        "DialEnd",
        "FullyBooted",
        "CoreShowChannel",
    ):
        normalise(_event(name, **fields))


def test_originate_is_always_async_with_both_channel_ids() -> None:
    req = OriginateRequest(
        attempt_id="42",
        channel="PJSIP/0301234@trunk",
        context="dialer-connect",
        timeout=25,
        variables={"DIALER_ATTEMPT": "42", "DIALER_QUEUE": "sales"},
    )
    fields = req.fields()
    assert ("Async", "true") in fields
    assert ("ChannelId", "42-a") in fields and ("OtherChannelId", "42-b") in fields
    assert ("Timeout", "25000") in fields
    assert [v for k, v in fields if k == "Variable"] == ["DIALER_ATTEMPT=42", "DIALER_QUEUE=sales"]


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_capped_jittered_and_growing(attempt: int, seed: int) -> None:
    b = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=0.5)
    d = b.delay(attempt, random.Random(seed))
    base = min(30.0, 0.5 * 2.0 ** min(attempt, 64))
    assert base * 0.5 <= d <= base
    assert d <= 30.0
