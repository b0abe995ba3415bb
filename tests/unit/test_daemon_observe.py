"""Engine events become the daemon's Prometheus series and its running totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from dialerd.daemon.metrics import PACING_INPUTS, Metrics
from dialerd.daemon.observe import CallLog, MetricsListener
from dialerd.domain.enums import AgentState, CallResult, Status
from dialerd.domain.model import Attempt
from dialerd.engine import (
    AgentStateChanged,
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    PacingDecision,
    ServerPacing,
    WindowFigures,
)

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def finished(result: CallResult, **times: datetime) -> AttemptFinished:
    attempt = Attempt(
        id="a1", campaign_id=1, contact_id=7, task_id=1, phone="+4930123", result=result, **times
    )
    return AttemptFinished("spring", attempt, result, 7, Status.OPEN, "$none", "call")


def decision(at: datetime, calls: int = 3) -> PacingDecision:
    return PacingDecision(
        at,
        calls,
        "predictive",
        4,
        2,
        1,
        0,
        5,
        0,
        0,
        20,
        0.4,
        100,
        answer_probability_high=0.45,
        abandon_burst=3,
    )


def test_calls_results_and_delays_are_counted_per_campaign() -> None:
    m = Metrics()
    listen = MetricsListener(m)
    listen(CallProgressed("spring", "a1", 7, "dialing", T0, "pbx1"))
    listen(
        finished(
            CallResult.CONNECTED,
            originated_at=T0,
            answered_at=T0 + timedelta(seconds=8),
            connected_at=T0 + timedelta(seconds=8.5),
        )
    )
    listen(finished(CallResult.ABANDONED, originated_at=T0, answered_at=T0 + timedelta(seconds=5)))
    listen(finished(CallResult.BUSY))
    assert value(m, "dialerd_calls_placed_total", campaign="spring") == 1
    assert value(m, "dialerd_calls_answered_total", campaign="spring") == 2
    assert value(m, "dialerd_calls_abandoned_total", campaign="spring") == 1
    assert value(m, "dialerd_call_results_total", campaign="spring", result="busy") == 1
    assert value(m, "dialerd_call_setup_seconds_count", campaign="spring") == 2
    assert value(m, "dialerd_call_setup_seconds_sum", campaign="spring") == 13
    assert value(m, "dialerd_connect_delay_seconds_sum", campaign="spring") == 0.5
    t = listen.totals
    assert (t.placed, t.finished, t.answered, t.connected, t.abandoned) == (1, 3, 2, 1, 1)
    assert t.abandonment_rate == 0.5


def test_agents_by_state_follow_the_latest_state_of_each_agent() -> None:
    m = Metrics()
    listen = MetricsListener(m)
    for agent, state in [("anna", AgentState.READY), ("ben", AgentState.READY)]:
        listen(AgentStateChanged(agent, f"PJSIP/{agent}", state, None, T0, "pbx1"))
    listen(AgentStateChanged("anna", "PJSIP/anna", AgentState.TALKING, AgentState.READY, T0, "p"))
    assert value(m, "dialerd_agents", state="ready") == 1
    assert value(m, "dialerd_agents", state="talking") == 1
    assert value(m, "dialerd_agents", state="paused") == 0
    assert listen.agents_by_state() == {"ready": 1, "talking": 1}


def test_agents_whose_state_is_not_known_are_counted_per_server() -> None:
    """A lost AMI link: its agents keep their last state in ``dialerd_agents`` and are counted
    in ``dialerd_agents_state_unknown{server}`` until the engine says the state is current."""
    m = Metrics()
    listen = MetricsListener(m)
    lost = T0 + timedelta(minutes=1)
    for agent, server in [("anna", "pbx1"), ("ben", "pbx1"), ("cleo", "pbx2")]:
        listen(AgentStateChanged(agent, f"PJSIP/{agent}", AgentState.TALKING, None, T0, server))
    assert value(m, "dialerd_agents_state_unknown", server="pbx1") == 0
    assert value(m, "dialerd_agents_state_unknown", server="pbx2") == 0
    for agent in ("anna", "ben"):
        talking = AgentState.TALKING
        listen(
            AgentStateChanged(agent, f"PJSIP/{agent}", talking, talking, T0, "pbx1", (), "", lost)
        )
    assert value(m, "dialerd_agents_state_unknown", server="pbx1") == 2
    assert value(m, "dialerd_agents_state_unknown", server="pbx2") == 0
    assert value(m, "dialerd_agents", state="talking") == 3  # the state last seen
    # the resync found anna's talk over; then the link is ready and both are current again
    wrapup = AgentState.WRAPUP
    listen(
        AgentStateChanged(
            "anna", "PJSIP/anna", wrapup, AgentState.TALKING, lost, "pbx1", (), "", lost
        )
    )
    assert value(m, "dialerd_agents_state_unknown", server="pbx1") == 2
    listen(AgentStateChanged("anna", "PJSIP/anna", wrapup, wrapup, lost, "pbx1"))
    assert value(m, "dialerd_agents_state_unknown", server="pbx1") == 1
    listen(
        AgentStateChanged("ben", "PJSIP/ben", AgentState.TALKING, AgentState.TALKING, T0, "pbx1")
    )
    assert value(m, "dialerd_agents_state_unknown", server="pbx1") == 0
    assert value(m, "dialerd_agents", state="talking") == 2
    assert value(m, "dialerd_agents", state="wrapup") == 1


def test_figures_set_pacing_abandonment_and_tick_duration() -> None:
    m = Metrics()
    listen = MetricsListener(m)
    windows = (WindowFigures("hour", 50, 1, 600.0), WindowFigures("day", 200, 2, 3600.0))
    end = T0 + timedelta(milliseconds=12)
    listen(CampaignFigures("spring", "enabled", True, 9, {}, windows, decision(T0), end))
    assert value(m, "dialerd_calls_in_flight", campaign="spring") == 9
    assert value(m, "dialerd_abandonment_rate", campaign="spring", window="hour") == 0.02
    assert value(m, "dialerd_pacing_decision_calls", campaign="spring") == 3
    assert value(m, "dialerd_pacing_input", campaign="spring", input="agents_ready") == 4
    assert value(m, "dialerd_pacing_input", campaign="spring", input="answer_rate_high") == 0.45
    assert value(m, "dialerd_pacing_input", campaign="spring", input="abandon_burst") == 3
    assert value(m, "dialerd_pacing_mode", campaign="spring", mode="predictive") == 1
    assert value(m, "dialerd_campaign_active", campaign="spring") == 1
    assert value(m, "dialerd_tick_duration_seconds_count", campaign="spring") == 1
    assert abs(value(m, "dialerd_tick_duration_seconds_sum", campaign="spring") - 0.012) < 1e-9
    # An idle campaign repeats its old decision: that is not a new tick to time.
    later = end + timedelta(seconds=1)
    listen(CampaignFigures("spring", "enabled", False, 0, {}, (), decision(T0), later))
    assert value(m, "dialerd_tick_duration_seconds_count", campaign="spring") == 1
    assert value(m, "dialerd_campaign_active", campaign="spring") == 0


def test_figures_export_the_target_the_estimates_and_the_mode_used() -> None:
    """The dashboard drew the target line from dialerd_abandonment_target, the estimates panel
    from dialerd_pacing_input{input=~".*_seconds"} and the effective mode from
    dialerd_pacing_mode: the first two were never set, the last showed the setting."""
    m = Metrics()
    listen = MetricsListener(m)
    held = replace(
        decision(T0),
        mode_used="progressive",
        ring_seconds=7.5,
        talk_seconds=95.0,
        wrapup_seconds=18.0,
    )
    windows = (WindowFigures("hour", 50, 1, 600.0),)
    end = T0 + timedelta(milliseconds=5)
    listen(CampaignFigures("spring", "enabled", True, 9, {}, windows, held, end, 0.03))
    assert value(m, "dialerd_abandonment_target", campaign="spring") == 0.03
    assert value(m, "dialerd_abandonment_live_answers", campaign="spring", window="hour") == 50
    assert value(m, "dialerd_pacing_input", campaign="spring", input="ring_seconds") == 7.5
    assert value(m, "dialerd_pacing_input", campaign="spring", input="talk_seconds") == 95
    assert value(m, "dialerd_pacing_input", campaign="spring", input="wrapup_seconds") == 18
    assert value(m, "dialerd_pacing_mode", campaign="spring", mode="progressive") == 1
    assert value(m, "dialerd_pacing_mode", campaign="spring", mode="predictive") == 0
    inputs = {
        labels["input"]
        for family in m.registry.collect()
        if family.name == "dialerd_pacing_input"
        for labels in (s.labels for s in family.samples)
    }
    assert inputs == set(PACING_INPUTS)  # what the dashboard may query, all of it set


def test_a_campaign_decided_per_server_shows_each_servers_part_and_mode() -> None:
    """A campaign with agents on two Asterisk servers is decided server by server: the
    operator sees each server's calls, agents and mode, and the series go once the campaign
    is decided as one again (its agents on one server)."""
    m = Metrics()
    listen = MetricsListener(m)
    parts = (
        ServerPacing("east", 0, "progressive", 0, 4, 0, 2, 0, 0, 30, 4),
        ServerPacing("west", 3, "predictive", 4, 2, 0, 3, 0, 1, 30, 6),
    )
    split = replace(decision(T0), servers=parts)
    listen(CampaignFigures("spring", "enabled", True, 6, {}, (), split, T0))
    east = {"campaign": "spring", "server": "east"}
    west = {"campaign": "spring", "server": "west"}
    assert value(m, "dialerd_pacing_server_input", **west, input="calls") == 3
    assert value(m, "dialerd_pacing_server_input", **east, input="agents_talking") == 4
    assert value(m, "dialerd_pacing_server_input", **east, input="calls_in_flight") == 2
    assert value(m, "dialerd_pacing_server_input", **east, input="agents_team") == 4
    assert value(m, "dialerd_pacing_server_mode", **east, mode="progressive") == 1
    assert value(m, "dialerd_pacing_server_mode", **west, mode="predictive") == 1
    later = T0 + timedelta(seconds=1)
    listen(CampaignFigures("spring", "enabled", True, 6, {}, (), decision(later), later))
    assert value(m, "dialerd_pacing_server_input", **east, input="calls") is None
    assert value(m, "dialerd_pacing_server_mode", **east, mode="progressive") is None


def test_a_campaign_s_call_counters_exist_at_zero_before_its_first_call() -> None:
    """Without these series an alert on increase(dialerd_calls_placed_total) has no data for
    a campaign that has not dialed since the start, and stays silent."""
    m = Metrics()
    listen = MetricsListener(m)
    listen(CampaignFigures("spring", "enabled", True, 0, {}, (), None, T0))
    for name in (
        "dialerd_calls_placed_total",
        "dialerd_calls_answered_total",
        "dialerd_calls_abandoned_total",
        "dialerd_runner_restarts_total",
    ):
        assert value(m, name, campaign="spring") == 0, name


def test_a_campaign_that_is_gone_leaves_no_frozen_gauges() -> None:
    m = Metrics()
    listen = MetricsListener(m)
    for name in ("spring", "autumn"):
        listen(CampaignFigures(name, "enabled", True, 4, {}, (), decision(T0), T0, 0.03))
    m.set_contacts("spring", [("call", "open", 10)])
    assert listen.forget_campaigns(["autumn"]) == ["spring"]
    left = {
        s.labels.get("campaign")
        for family in m.registry.collect()
        if family.type in ("gauge", "unknown")
        for s in family.samples
    }
    assert "spring" not in left and "autumn" in left
    assert value(m, "dialerd_calls_in_flight", campaign="autumn") == 4
    # its counters stay (a counter that vanishes and comes back reads as a reset)
    assert value(m, "dialerd_calls_placed_total", campaign="spring") == 0
    assert listen.forget_campaigns(["autumn"]) == []


def test_each_finished_call_has_one_line_with_the_ids_to_follow_it() -> None:
    attempt = Attempt(
        id="a9",
        campaign_id=1,
        contact_id=42,
        task_id=1,
        phone="+4930123",
        server="pbx1",
        result=CallResult.FAILED_UNKNOWN,
        cause="the daemon stopped before the call was over",
    )
    event = AttemptFinished(
        "spring", attempt, CallResult.FAILED_UNKNOWN, 42, Status.OPEN, "$follow_up_auto", "call"
    )
    with structlog.testing.capture_logs() as logs:
        CallLog()(event)
        CallLog()(CallProgressed("spring", "a9", 42, "dialing", T0, "pbx1"))
    assert logs == [
        {
            "event": "call finished",
            "log_level": "info",
            "campaign": "spring",
            "contact": 42,
            "attempt": "a9",
            "result": "failed_unknown",
            "status": "open",
            "status_detail": "$follow_up_auto",
            "task": "call",
            "server": "pbx1",
            "cause": "the daemon stopped before the call was over",
        }
    ]


def test_a_call_written_by_the_journal_replay_has_its_line_marked_replayed() -> None:
    """A call whose outcome a start wrote from the outage journal had no "call finished" line
    (only the replay's own); it has one now, saying it was replayed."""
    attempt = Attempt(
        id="a10",
        campaign_id=1,
        contact_id=43,
        task_id=1,
        phone="+4930124",
        server="pbx1",
        agent="ada",
        result=CallResult.CONNECTED,
        disposition="sale",
    )
    event = AttemptFinished(
        "spring",
        attempt,
        CallResult.CONNECTED,
        43,
        Status.SUCCESS,
        "sale",
        "call",
        agent="ada",
        next_task="won",
        replayed=True,
    )
    with structlog.testing.capture_logs() as logs:
        CallLog()(event)
    ((line),) = logs
    assert (line["event"], line["attempt"], line["next_task"], line["replayed"]) == (
        "call finished",
        "a10",
        "won",
        True,
    )
