"""Taskflow core: most specific rule, delays/waiting, call results, follow-ups, max attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.domain.enums import CallResult, Status, StatusDetail
from dialerd.domain.model import Contact, RetryPolicy, RetryRule, TaskflowRule
from dialerd.taskflow.call import Disposition, call_outcome, disposition_outcome
from dialerd.taskflow.decide import Outcome, UnknownTask, transition_for
from dialerd.taskflow.rules import match_rule

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RULES = [
    TaskflowRule("call", Status.FAILED, "lost"),
    TaskflowRule("call", Status.FAILED, "recall", "$max_attempts", timedelta(days=7)),
    TaskflowRule("call", Status.SUCCESS, "done"),
]
TASKS = {"call": 1, "done": 2, "lost": 3, "recall": 4}
POLICY = RetryPolicy(
    rules={
        CallResult.BUSY: RetryRule(timedelta(minutes=20), 3),
        CallResult.NO_ANSWER: RetryRule(timedelta(hours=2), 5),
    },
    max_attempts=4,
)


def contact(task_id: int = 1, attempts: int = 0) -> Contact:
    return Contact(
        id=7,
        campaign_id=1,
        task_id=task_id,
        status=Status.OPEN,
        status_detail="$none",
        attempts=attempts,
    )


def test_most_specific_rule_wins_whatever_the_order() -> None:
    for rules in (RULES, list(reversed(RULES))):
        assert match_rule(rules, "call", Status.FAILED, "$max_attempts") == RULES[1]
        assert match_rule(rules, "call", Status.FAILED, "$invalid_number") == RULES[0]
        assert match_rule(rules, "call", Status.DECLINED, None) is None
        assert match_rule(rules, "done", Status.FAILED, None) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(list(Status)),
            st.one_of(st.none(), st.sampled_from(["x", "y"])),
        ),
        unique=True,
    ),
    st.sampled_from(["a", "b"]),
    st.sampled_from(list(Status)),
    st.sampled_from(["x", "y", "z"]),
)
def test_match_rule_properties(
    keys: list[tuple[str, Status, str | None]], task: str, status: Status, detail: str
) -> None:
    rules = [TaskflowRule(f, s, "t", d) for f, s, d in keys]
    found = match_rule(rules, task, status, detail)
    exact = [r for r in rules if (r.from_task, r.status, r.status_detail) == (task, status, detail)]
    generic = [r for r in rules if (r.from_task, r.status, r.status_detail) == (task, status, None)]
    if exact:
        assert found == exact[0]
    elif generic:
        assert found == generic[0]
    else:
        assert found is None


def test_delayed_rule_makes_contact_wait_with_due_time() -> None:
    t = transition_for(
        contact(),
        Outcome(Status.FAILED, "$max_attempts"),
        rules=RULES,
        task_ids=TASKS,
        now=NOW,
        actor="engine",
    )
    assert (t.task_id, t.status, t.status_detail) == (1, Status.FAILED, "$max_attempts")
    assert (t.pending_task_id, t.pending_due_at) == (4, NOW + timedelta(days=7))
    assert t.expect_task_id == 1


def test_rule_without_delay_is_due_now_and_no_rule_stays() -> None:
    t = transition_for(
        contact(),
        Outcome(Status.SUCCESS, "sale"),
        rules=RULES,
        task_ids=TASKS,
        now=NOW,
        actor="a",
    )
    assert (t.pending_task_id, t.pending_due_at) == (2, NOW)
    stay = transition_for(
        contact(),
        Outcome(Status.DECLINED, "not_interested"),
        rules=RULES,
        task_ids=TASKS,
        now=NOW,
        actor="a",
    )
    assert (stay.task_id, stay.pending_task_id, stay.status) == (1, None, Status.DECLINED)


def test_rule_to_unknown_task_is_an_error() -> None:
    with pytest.raises(UnknownTask):
        transition_for(
            contact(),
            Outcome(Status.SUCCESS),
            rules=RULES,
            task_ids={"call": 1},
            now=NOW,
            actor="a",
        )


def test_retryable_result_is_automatic_follow_up_after_policy_delay() -> None:
    o = call_outcome(CallResult.BUSY, 1, POLICY, NOW)
    assert (o.status, o.status_detail, o.due_at) == (
        Status.OPEN,
        StatusDetail.FOLLOW_UP_AUTO.value,
        NOW + timedelta(minutes=20),
    )
    o = call_outcome(CallResult.NO_ANSWER, 2, POLICY, NOW)
    assert o.due_at == NOW + timedelta(hours=2)


def test_max_attempts_per_result_and_overall() -> None:
    assert call_outcome(CallResult.BUSY, 3, POLICY, NOW).status_detail == "$max_attempts"
    assert call_outcome(CallResult.BUSY, 3, POLICY, NOW).status is Status.FAILED
    # no_answer allows 5, but the policy caps all attempts at 4
    assert call_outcome(CallResult.NO_ANSWER, 3, POLICY, NOW).status is Status.OPEN
    assert call_outcome(CallResult.NO_ANSWER, 4, POLICY, NOW).status_detail == "$max_attempts"


@given(st.sampled_from([CallResult.BUSY, CallResult.NO_ANSWER]), st.integers(1, 20))
def test_retry_closes_exactly_at_the_limit(result: CallResult, attempts: int) -> None:
    limit = min(POLICY.max_attempts, POLICY.rules[result].max_attempts)
    o = call_outcome(result, attempts, POLICY, NOW)
    if attempts >= limit:
        assert (o.status, o.status_detail) == (Status.FAILED, "$max_attempts")
    else:
        assert o.status is Status.OPEN and o.due_at is not None and o.due_at > NOW


def test_results_without_rule_are_final() -> None:
    o = call_outcome(CallResult.CONGESTION, 1, POLICY, NOW)
    assert (o.status, o.status_detail) == (Status.FAILED, "$congestion")
    o = call_outcome(CallResult.INVALID_NUMBER, 1, POLICY, NOW)
    assert (o.status, o.status_detail) == (Status.FAILED, "$invalid_number")


def test_abandoned_is_not_redialed_within_hold_off() -> None:
    o = call_outcome(CallResult.ABANDONED, 1, POLICY, NOW, abandon_hold_off=timedelta(hours=72))
    assert (o.status, o.status_detail) == (Status.OPEN, "$abandoned")
    assert o.due_at == NOW + timedelta(hours=72)


def test_an_abandoned_rule_caps_attempts_and_never_shortens_the_hold_off() -> None:
    # the daemon's [retry] abandoned = { delay, max_attempts }
    policy = RetryPolicy({CallResult.ABANDONED: RetryRule(timedelta(hours=96), 2)}, max_attempts=5)
    o = call_outcome(CallResult.ABANDONED, 1, policy, NOW, abandon_hold_off=timedelta(hours=72))
    assert (o.status, o.due_at) == (Status.OPEN, NOW + timedelta(hours=96))
    o = call_outcome(CallResult.ABANDONED, 2, policy, NOW, abandon_hold_off=timedelta(hours=72))
    assert (o.status, o.status_detail) == (Status.FAILED, "$max_attempts")
    short = RetryPolicy({CallResult.ABANDONED: RetryRule(timedelta(hours=1), 3)}, max_attempts=5)
    o = call_outcome(CallResult.ABANDONED, 1, short, NOW, abandon_hold_off=timedelta(hours=72))
    assert o.due_at == NOW + timedelta(hours=72)


def test_connected_needs_disposition_and_callback_books_personal_follow_up() -> None:
    with pytest.raises(ValueError, match="disposition"):
        call_outcome(CallResult.CONNECTED, 1, POLICY, NOW)
    at = NOW + timedelta(days=1)
    o = call_outcome(
        CallResult.CONNECTED,
        1,
        POLICY,
        NOW,
        disposition=Disposition(Status.OPEN, callback_at=at),
        agent="alice",
    )
    assert (o.status, o.status_detail, o.due_at, o.follow_up_agent) == (
        Status.OPEN,
        "$follow_up_personal",
        at,
        "alice",
    )
    o = disposition_outcome(Disposition(Status.SUCCESS, "sale", note="2 units"), 1, POLICY, NOW)
    assert (o.status, o.status_detail, o.note) == (Status.SUCCESS, "sale", "2 units")
    o = disposition_outcome(Disposition(Status.OPEN), 1, POLICY, NOW)
    assert (o.status_detail, o.due_at) == ("$follow_up_auto", NOW + timedelta(hours=2))
    o = disposition_outcome(Disposition(Status.OPEN), 4, POLICY, NOW)
    assert o.status_detail == "$max_attempts"


def test_a_status_set_by_hand_is_decided_per_task_as_an_outcome_is() -> None:
    from dialerd.domain.changes import RuleMove
    from dialerd.taskflow.decide import status_moves

    assert status_moves(TASKS, RULES, Status.FAILED, "$max_attempts", NOW) == {
        1: RuleMove(4, NOW + timedelta(days=7))
    }
    assert status_moves(TASKS, RULES, Status.FAILED, "wrong_person", NOW) == {1: RuleMove(3, NOW)}
    assert status_moves(TASKS, RULES, Status.OPEN, "$none", NOW) == {}
