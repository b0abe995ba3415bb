"""Dispositions from agent desktops are validated strictly; topics cannot be escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dialerd.bus import Disposition, Topics, encode_event
from dialerd.domain.enums import AgentState, Status


def make(**kw: object) -> Disposition:
    return Disposition.model_validate({"agent": "agent-1", "attempt": 3, **kw})


def test_plain_word_disposition() -> None:
    d = make(status="success", status_detail="sale", note="two units")
    assert d.status is Status.SUCCESS and d.status_detail == "sale"


def test_personal_follow_up_needs_open_and_an_aware_callback_time() -> None:
    ok = make(
        status="open", status_detail="$follow_up_personal", callback_at="2026-11-24T10:00:00Z"
    )
    assert ok.callback_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
    for bad in (
        {"status": "open", "status_detail": "$follow_up_personal"},
        {
            "status": "success",
            "status_detail": "$follow_up_personal",
            "callback_at": "2026-11-24T10:00:00Z",
        },
        {
            "status": "open",
            "status_detail": "$follow_up_personal",
            "callback_at": "2026-11-24T10:00:00",
        },
        {"status": "success", "callback_at": "2026-11-24T10:00:00Z"},
        {"status": "open"},
    ):
        with pytest.raises(ValidationError):
            make(**bad)


@pytest.mark.parametrize(
    "detail", ["$abandoned", "$busy", "$max_attempts", "$no_answer", "Sale", "a b"]
)
def test_details_an_agent_cannot_set(detail: str) -> None:
    with pytest.raises(ValidationError):
        make(status="failed", status_detail=detail)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        make(status="success", colour="red")


@given(
    st.dictionaries(
        st.text(max_size=8), st.none() | st.integers() | st.text(max_size=8), max_size=5
    )
)
def test_arbitrary_payloads_validate_or_raise_validation_error(payload: dict[str, object]) -> None:
    try:
        d = Disposition.model_validate({**payload, "agent": "a"})
    except ValidationError:
        return
    assert d.agent == "a" and d.attempt >= 1


def test_topics() -> None:
    t = Topics("/site-a/dialerd/")
    assert t.campaign_call("spring") == "site-a/dialerd/campaign/spring/call"
    assert t.agent_screenpop("agent-1") == "site-a/dialerd/agent/agent-1/screenpop"
    assert t.dispositions == "site-a/dialerd/agent/+/disposition"
    assert t.disposition_agent("site-a/dialerd/agent/agent-7/disposition") == "agent-7"
    assert t.disposition_agent("site-a/dialerd/agent/a/b/disposition") is None
    assert t.disposition_agent("other/agent/a/disposition") is None
    assert t.campaign_call("Sale 50/50 +#") == "site-a/dialerd/campaign/Sale 50%2F50 %2B%23/call"
    with pytest.raises(ValueError):
        t.agent_state("")


@given(st.text(min_size=1, max_size=20))
def test_any_name_is_one_topic_level_and_round_trips(name: str) -> None:
    t = Topics("p")
    topic = t.agent_disposition(name)
    assert topic.count("/") == 3 and "+" not in topic and "#" not in topic
    assert t.disposition_agent(topic) == name


def test_events_encode_enums_and_times() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    body = json.loads(encode_event("agent_state", {"state": AgentState.WRAPUP, "since": now}, now))
    assert body == {
        "type": "agent_state",
        "ts": "2026-11-23T12:00:00Z",
        "state": "wrapup",
        "since": "2026-11-23T12:00:00Z",
    }


def test_the_attempt_is_attempt_id_as_over_http_and_its_old_name_is_still_taken() -> None:
    new = Disposition.model_validate({"agent": "a", "attempt_id": "att-3", "status": "success"})
    old = Disposition.model_validate({"agent": "a", "attempt": "att-3", "status": "success"})
    assert new.attempt_id == old.attempt_id == "att-3"
    assert old.attempt == "att-3"  # the attribute's old name, for code that read it
    both = {"agent": "a", "attempt": 7, "attempt_id": 7, "status": "success"}
    assert Disposition.model_validate(both).attempt_id == "7"  # sent both while migrating
    with pytest.raises(ValidationError, match="differ"):
        Disposition.model_validate({**both, "attempt_id": "8"})
