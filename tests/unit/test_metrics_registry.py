"""The daemon's metrics: names, units and what the recording methods expose."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dialerd.daemon.metrics import Metrics
from dialerd.domain.enums import AgentState, CallResult, DialMode


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, frozenset(labels.items()))]


def test_own_registry_so_two_daemons_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.call_placed("spring")
    assert value(a, "dialerd_calls_placed_total", campaign="spring") == 1
    assert ("dialerd_calls_placed_total", frozenset({("campaign", "spring")})) not in samples(b)
    assert "dialerd_calls_placed" not in {m.name for m in REGISTRY.collect()}


def test_names_follow_prometheus_conventions() -> None:
    for family in Metrics().registry.collect():
        assert family.name.startswith("dialerd_"), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        # base units only: no milliseconds, no percentages
        assert not any(part in family.name for part in ("_ms", "millis", "percent"))


def test_call_results_feed_answered_and_abandoned_counters() -> None:
    m = Metrics()
    for result in (
        CallResult.CONNECTED,
        CallResult.CONNECTED,
        CallResult.ABANDONED,
        CallResult.MACHINE,
        CallResult.BUSY,
    ):
        m.call_finished("spring", result)
    assert value(m, "dialerd_calls_answered_total", campaign="spring") == 3
    assert value(m, "dialerd_calls_abandoned_total", campaign="spring") == 1
    assert value(m, "dialerd_call_results_total", campaign="spring", result="machine") == 1


def test_delay_histograms_reach_60_seconds() -> None:
    m = Metrics()
    m.observe_connect_delay("spring", 1.2)
    m.observe_call_setup("spring", 59.0)
    assert value(m, "dialerd_connect_delay_seconds_bucket", campaign="spring", le="2.0") == 1
    assert value(m, "dialerd_call_setup_seconds_bucket", campaign="spring", le="60.0") == 1
    assert value(m, "dialerd_call_setup_seconds_bucket", campaign="spring", le="45.0") == 0


def test_state_gauges_are_exclusive() -> None:
    m = Metrics()
    m.set_agents({AgentState.READY: 3, AgentState.TALKING: 5})
    m.set_agents({AgentState.TALKING: 8})
    assert value(m, "dialerd_agents", state="ready") == 0
    assert value(m, "dialerd_agents", state="talking") == 8
    m.set_ami_state("pbx1", "resyncing")
    m.set_ami_state("pbx1", "ready")
    assert value(m, "dialerd_ami_link_state", server="pbx1", state="resyncing") == 0
    assert value(m, "dialerd_ami_link_up", server="pbx1") == 1
    m.pacing_tick(
        "spring",
        decision=4,
        mode=DialMode.PROGRESSIVE,
        inputs={"agents_ready": 4, "answer_rate": 0.3},
        seconds=0.002,
    )
    assert value(m, "dialerd_pacing_mode", campaign="spring", mode="progressive") == 1
    assert value(m, "dialerd_pacing_mode", campaign="spring", mode="predictive") == 0
    assert value(m, "dialerd_pacing_input", campaign="spring", input="answer_rate") == 0.3


def test_contacts_overview_replaces_stale_series_and_campaigns_can_be_forgotten() -> None:
    m = Metrics()
    m.set_contacts("spring", [("call", "open", 10), ("call", "success", 2)])
    m.set_contacts("spring", [("call", "open", 9), ("export", "open", 3)])
    m.set_contacts("autumn", [("call", "open", 1)])
    s = samples(m)
    spring = {
        dict(k[1])["task"] + "/" + dict(k[1])["status"]
        for k in s
        if k[0] == "dialerd_contacts" and dict(k[1])["campaign"] == "spring"
    }
    assert spring == {"call/open", "export/open"}
    m.forget_campaign("spring")
    left = {dict(k[1])["campaign"] for k in samples(m) if k[0] == "dialerd_contacts"}
    assert left == {"autumn"}


def test_mqtt_hooks() -> None:
    m = Metrics()
    m.mqtt_connection(True, reconnect=False)
    m.mqtt_connection(False, reconnect=False)
    m.mqtt_connection(True, reconnect=True)
    m.mqtt_dropped("disconnected", 3)
    m.mqtt_disposition("rejected")
    assert value(m, "dialerd_mqtt_connected") == 1
    assert value(m, "dialerd_mqtt_reconnects_total") == 1
    assert value(m, "dialerd_mqtt_events_dropped_total", reason="disconnected") == 3
    assert value(m, "dialerd_mqtt_dispositions_total", outcome="rejected") == 1


def test_no_label_takes_unbounded_values() -> None:
    """A label per contact, number, attempt or error text makes a series per call: Prometheus'
    memory grows without end. Labels are names of configured things or fixed vocabularies."""
    bounded = {
        "campaign",
        "task",
        "status",
        "server",
        # configured queues (a campaign's, an agent's own <queue>.<agent>), and only those
        # found missing in Asterisk: bounded by campaigns x agents
        "queue",
        "window",
        "state",
        "result",
        "input",
        "mode",
        "reason",
        "outcome",
        "version",
    }
    for family in Metrics().families():
        assert set(family.labels) <= bounded, (family.name, family.labels)


def test_mqtt_counters_start_at_zero_once_mqtt_is_enabled() -> None:
    """The first outage's drops would not count in increase(), the alert's expression."""
    m = Metrics()
    m.mqtt_started()
    assert value(m, "dialerd_mqtt_events_dropped_total", reason="disconnected") == 0
    assert value(m, "dialerd_mqtt_dispositions_total", outcome="rejected") == 0
