"""Engine events become the daemon's Prometheus series and its running totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialerd.daemon.metrics import Metrics
from dialerd.daemon.observe import MetricsListener
from dialerd.domain.enums import AgentState, CallResult, Status
from dialerd.domain.model import Attempt
from dialerd.engine import (
    AgentStateChanged,
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    PacingDecision,
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
