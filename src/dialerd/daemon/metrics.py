"""Prometheus metrics of the daemon, in one registry of its own.

Names follow Prometheus conventions: ``dialerd_`` prefix, base units (seconds, ratios),
``_total`` on counters. Per-campaign series carry a ``campaign`` label, AMI series a
``server`` label. The registry is private (not prometheus-client's global one) so two daemons
in one test process, or a test and the daemon, never share counters.

The recording methods take the vocabulary's types (``CallResult``, ``AgentState``) so callers do
not spell label values; the engine helper wires engine events to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase

import dialerd
from dialerd.bus.mqtt import DROP_DISCONNECTED, DROP_QUEUE_FULL, DROP_UNENCODABLE
from dialerd.domain.enums import AgentState, CallResult, DialMode

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Call setup (originate -> answer) and connect delay (answer -> agent): ring timeouts run to
# 25-60 s, the connect limit is 2 s, so the buckets are dense below 3 s and reach 60 s.
DELAY_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    1.5,
    2.0,
    2.5,
    3.0,
    5.0,
    10.0,
    15.0,
    20.0,
    25.0,
    30.0,
    45.0,
    60.0,
)
TICK_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip

JOURNAL_OUTCOMES = (
    "queued",
    "journaled",
    "applied",
    "already_stored",
    "stale",
    "superseded",
    "failed",
    "recovered",
)
AMI_LINK_STATES = ("disconnected", "connecting", "logging_in", "resyncing", "ready", "failed")
PACING_INPUTS = (
    "agents_ready",
    "agents_talking",
    "agents_wrapup",
    "calls_in_flight",
    "free_lines",
    "answer_rate",
    "answer_rate_high",
    "ring_seconds",
    "talk_seconds",
    "wrapup_seconds",
    "abandonment_rate",
    "abandon_burst",
    "agents_shared",
    "agents_team",
    "agents_not_known",
)

#: Inputs of each server's part of a decision (``dialerd_pacing_server_input``): a campaign
#: with agents on several Asterisk servers is decided server by server.
PACING_SERVER_INPUTS = (
    "calls",
    "agents_ready",
    "agents_talking",
    "agents_wrapup",
    "calls_in_flight",
    "free_lines",
    "agents_team",
)


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as exported: ``name`` without the ``_total`` of counters."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...]

    @property
    def series(self) -> tuple[str, ...]:
        """The series names a query uses (counters with ``_total``, histograms' parts)."""
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return tuple(f"{self.name}_{part}" for part in ("bucket", "sum", "count"))
        return (self.name,)


class Metrics:
    """All of dialerd's metrics; ``registry`` is what ``/metrics`` serves."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Gauge(
            "dialerd_build_info",
            "Version of the running daemon (always 1).",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=dialerd.__version__).set(1)

        # Calls
        self.calls_placed = Counter(
            "dialerd_calls_placed", "Calls originated.", ["campaign"], registry=r
        )
        self.calls_answered = Counter(
            "dialerd_calls_answered",
            "Calls answered by a live person (connected or abandoned; machines excluded).",
            ["campaign"],
            registry=r,
        )
        self.calls_abandoned = Counter(
            "dialerd_calls_abandoned",
            "Live-answered calls not connected to an agent within the connect limit.",
            ["campaign"],
            registry=r,
        )
        self.call_results = Counter(
            "dialerd_call_results",
            "Finished attempts by result.",
            ["campaign", "result"],
            registry=r,
        )
        self.calls_in_flight = Gauge(
            "dialerd_calls_in_flight",
            "Calls originated and not yet finished.",
            ["campaign"],
            registry=r,
        )
        self.call_setup = Histogram(
            "dialerd_call_setup_seconds",
            "Originate to answer.",
            ["campaign"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.connect_delay = Histogram(
            "dialerd_connect_delay_seconds",
            "Answer to agent connected (abandoned calls are not observed).",
            ["campaign"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )

        # Agents, abandonment, pacing
        self.agents = Gauge(
            "dialerd_agents",
            "Agents by state (while an AMI link is lost, the state last seen).",
            ["state"],
            registry=r,
        )
        self.agents_state_unknown = Gauge(
            "dialerd_agents_state_unknown",
            "Agents whose state is not known now: the AMI link to their Asterisk is lost, "
            "dialerd_agents counts them by the state last seen.",
            ["server"],
            registry=r,
        )
        self.abandonment_rate = Gauge(
            "dialerd_abandonment_rate",
            "Abandoned / live-answered calls so far in a window (ratio; calls connected now "
            "count as live-answered).",
            ["campaign", "window"],
            registry=r,
        )
        self.abandonment_live_answers = Gauge(
            "dialerd_abandonment_live_answers",
            "Live-answered calls so far in a window: the denominator of "
            "dialerd_abandonment_rate (a rate over few calls moves by whole percents).",
            ["campaign", "window"],
            registry=r,
        )
        self.abandonment_target = Gauge(
            "dialerd_abandonment_target",
            "The campaign's abandonment target (ratio).",
            ["campaign"],
            registry=r,
        )
        self.pacing_decision = Gauge(
            "dialerd_pacing_decision_calls",
            "Calls the last pacing tick decided to place.",
            ["campaign"],
            registry=r,
        )
        self.pacing_input = Gauge(
            "dialerd_pacing_input",
            "Inputs of the last pacing decision (counts, ratios or seconds, as named).",
            ["campaign", "input"],
            registry=r,
        )
        self.pacing_mode = Gauge(
            "dialerd_pacing_mode",
            "1 for the dial mode the last tick used (predictive may fall back to progressive).",
            ["campaign", "mode"],
            registry=r,
        )
        self.pacing_server_input = Gauge(
            "dialerd_pacing_server_input",
            "Per Asterisk server, for a campaign with agents on several (decided server by "
            "server): the calls its part of the last decision placed there and its inputs.",
            ["campaign", "server", "input"],
            registry=r,
        )
        self.pacing_server_mode = Gauge(
            "dialerd_pacing_server_mode",
            "1 for the dial mode each server's part of the last decision used.",
            ["campaign", "server", "mode"],
            registry=r,
        )
        self.tick_duration = Histogram(
            "dialerd_tick_duration_seconds",
            "Time one pacing tick of one campaign took.",
            ["campaign"],
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.tick_last = Gauge(
            "dialerd_tick_last_duration_seconds",
            "How long the campaign's latest pacing tick took: read with the histogram's count, "
            "a sample of every tick when scraped at least once per tick (as the benchmark does).",
            ["campaign"],
            registry=r,
        )
        self.pacing_stalled = Gauge(
            "dialerd_pacing_stalled",
            "1 while the campaign's runner has completed no pacing pass within [engine] "
            "stall_limit although it should dial (as /healthz 'pacing' reports).",
            ["campaign"],
            registry=r,
        )
        self.runner_restarts = Counter(
            "dialerd_runner_restarts",
            "Campaign runner crashes followed by a restart.",
            ["campaign"],
            registry=r,
        )
        self.task_failing = Gauge(
            "dialerd_task_failing",
            "1 while a non-call task cannot run (bad settings, its last batch failed).",
            ["campaign", "task"],
            registry=r,
        )
        self.campaign_active = Gauge(
            "dialerd_campaign_active",
            "1 while the campaign is dialing (enabled, or automatic inside a time period).",
            ["campaign"],
            registry=r,
        )
        self.contacts = Gauge(
            "dialerd_contacts",
            "Contacts per task and status (waiting contacts have status 'waiting').",
            ["campaign", "task", "status"],
            registry=r,
        )

        # Store
        self.store_up = Gauge(
            "dialerd_store_up",
            "1 while the database answers a read and the latest write went through "
            "(as /healthz 'store' and 'store_writes' report).",
            registry=r,
        )
        self.instance_lock_held = Gauge(
            "dialerd_instance_lock_held",
            "1 while this daemon holds its instance lock; 0 while it is lost with its "
            "database session (no new calls are placed until it is taken again).",
            registry=r,
        )
        self.journal_outcomes = Counter(
            "dialerd_journal_outcomes",
            "The journal in the state directory: dispositions queued in a database outage "
            "(queued, as taken; recovered: a later start closed the call a crash lost with "
            "it), call outcomes the database could not take at a stop (journaled), and what "
            "the next start did with those: applied, already_stored, stale (the attempt "
            "recorded alone, the contact changed meanwhile), superseded (the attempt recorded "
            "alone, the contact dialed or leased again since) or failed (kept aside).",
            ["outcome"],
            registry=r,
        )
        for outcome in JOURNAL_OUTCOMES:  # at 0, so increase() sees the first one
            self.journal_outcomes.labels(outcome)

        # Asterisk
        self.ami_link_up = Gauge(
            "dialerd_ami_link_up", "1 while the AMI link is ready.", ["server"], registry=r
        )
        self.queue_missing = Gauge(
            "dialerd_queue_missing",
            "1 while a queue a campaign needs (its queue, or an agent's own queue "
            "<queue>.<agent>) is missing on the Asterisk server: no calls are sent to it. "
            "0 once it is defined again (or no campaign or agent needs it any more).",
            ["server", "queue"],
            registry=r,
        )
        self.ami_link_state = Gauge(
            "dialerd_ami_link_state",
            "1 for the AMI link's current state.",
            ["server", "state"],
            registry=r,
        )
        self.ami_reconnects = Counter(
            "dialerd_ami_reconnects", "AMI reconnections.", ["server"], registry=r
        )
        self.ami_protocol_errors = Counter(
            "dialerd_ami_protocol_errors",
            "Malformed or unexpected AMI input.",
            ["server"],
            registry=r,
        )
        self.ami_action_failures = Counter(
            "dialerd_ami_action_failures",
            "AMI actions that failed (timeout, link lost, error response).",
            ["server", "reason"],
            registry=r,
        )
        self.ami_link_failures = Counter(
            "dialerd_ami_link_failures",
            "Why an AMI link could not be had: connect_failed, login_refused, dead_peer.",
            ["server", "reason"],
            registry=r,
        )
        self.server_calls = Gauge(
            "dialerd_server_calls", "Calls in progress on an Asterisk.", ["server"], registry=r
        )
        self.server_lines = Gauge(
            "dialerd_server_lines",
            "Configured trunk lines (max concurrent calls) of an Asterisk.",
            ["server"],
            registry=r,
        )

        # MQTT
        self.mqtt_connected = Gauge(
            "dialerd_mqtt_connected", "1 while connected to the MQTT broker.", registry=r
        )
        self.mqtt_reconnects = Counter(
            "dialerd_mqtt_reconnects", "Connections to the MQTT broker after the first.", registry=r
        )
        self.mqtt_events_published = Counter(
            "dialerd_mqtt_events_published", "Events published to MQTT.", registry=r
        )
        self.mqtt_events_dropped = Counter(
            "dialerd_mqtt_events_dropped",
            "Events not published (broker away or queue full).",
            ["reason"],
            registry=r,
        )
        self.mqtt_dispositions = Counter(
            "dialerd_mqtt_dispositions",
            "Dispositions received over MQTT by outcome (accepted, rejected, failed).",
            ["outcome"],
            registry=r,
        )

    # ------------------------------------------------------------------ calls

    def campaign_seen(self, campaign: str) -> None:
        """Start the campaign's call counters at 0: a series that appears only with its first
        event leaves ``rate()``/``increase()`` without data until then, so an alert on calls
        placed or abandoned would stay silent for a campaign that never dialed."""
        for counter in (
            self.calls_placed,
            self.calls_answered,
            self.calls_abandoned,
            self.runner_restarts,
        ):
            counter.labels(campaign)

    def call_placed(self, campaign: str) -> None:
        self.calls_placed.labels(campaign).inc()

    def call_finished(self, campaign: str, result: CallResult) -> None:
        self.call_results.labels(campaign, result.value).inc()
        if result.live_answer:
            self.calls_answered.labels(campaign).inc()
        if result is CallResult.ABANDONED:
            self.calls_abandoned.labels(campaign).inc()

    def set_calls_in_flight(self, campaign: str, count: int) -> None:
        self.calls_in_flight.labels(campaign).set(count)

    def observe_call_setup(self, campaign: str, seconds: float) -> None:
        self.call_setup.labels(campaign).observe(seconds)

    def observe_connect_delay(self, campaign: str, seconds: float) -> None:
        self.connect_delay.labels(campaign).observe(seconds)

    # ---------------------------------------------------------- agents, pacing

    def set_agents(self, counts: Mapping[AgentState, int]) -> None:
        """Absolute counts by state; states left out are 0 (so no stale series stay up)."""
        for state in AgentState:
            self.agents.labels(state.value).set(counts.get(state, 0))

    def set_agents_state_unknown(self, counts: Mapping[str, int]) -> None:
        """Absolute counts by server; a server seen before and left out is 0 (its link is
        back), so the series does not stay up at the outage's count."""
        for (server,) in _children(self.agents_state_unknown):
            if server not in counts:
                self.agents_state_unknown.labels(server).set(0)
        for server, n in counts.items():
            self.agents_state_unknown.labels(server).set(n)

    def set_abandonment(
        self,
        campaign: str,
        rates: Mapping[str, float],
        target: float | None = None,
        live_answers: Mapping[str, int] | None = None,
    ) -> None:
        for window, rate in rates.items():
            self.abandonment_rate.labels(campaign, window).set(rate)
        for window, n in (live_answers or {}).items():
            self.abandonment_live_answers.labels(campaign, window).set(n)
        if target is not None:
            self.abandonment_target.labels(campaign).set(target)

    def pacing_tick(
        self,
        campaign: str,
        *,
        decision: int,
        mode: DialMode,
        inputs: Mapping[str, float],
        seconds: float,
    ) -> None:
        """One tick's decision, the mode it used, its inputs and how long the tick took."""
        self.pacing_decision.labels(campaign).set(decision)
        for m in DialMode:
            self.pacing_mode.labels(campaign, m.value).set(1 if m is mode else 0)
        for name, value in inputs.items():
            self.pacing_input.labels(campaign, name).set(value)
        self.tick_duration.labels(campaign).observe(seconds)
        self.tick_last.labels(campaign).set(seconds)

    def set_pacing_servers(
        self, campaign: str, servers: Mapping[str, tuple[DialMode | None, Mapping[str, float]]]
    ) -> None:
        """Each server's part of the campaign's last decision (server -> (mode used, inputs));
        the series of servers not in it are dropped (empty: a campaign decided as one)."""
        for gauge in (self.pacing_server_input, self.pacing_server_mode):
            for labels in _children(gauge):
                if labels[0] == campaign and labels[1] not in servers:
                    gauge.remove(*labels)
        for server, (mode, inputs) in servers.items():
            for m in DialMode:
                self.pacing_server_mode.labels(campaign, server, m.value).set(1 if m is mode else 0)
            for name, value in inputs.items():
                self.pacing_server_input.labels(campaign, server, name).set(value)

    def set_contacts(self, campaign: str, counts: Iterable[tuple[str, str, int]]) -> None:
        """Replace the campaign's (task, status, count) series with a fresh overview."""
        fresh = {(task, status): n for task, status, n in counts}
        for labels in _children(self.contacts):
            if labels[0] == campaign and (labels[1], labels[2]) not in fresh:
                self.contacts.remove(*labels)
        for (task, status), n in fresh.items():
            self.contacts.labels(campaign, task, status).set(n)

    def forget_campaign(self, campaign: str) -> None:
        """Drop a removed campaign's gauges so dashboards do not show it frozen."""
        for gauge in (
            self.calls_in_flight,
            self.abandonment_rate,
            self.abandonment_live_answers,
            self.abandonment_target,
            self.pacing_decision,
            self.pacing_input,
            self.pacing_mode,
            self.pacing_server_input,
            self.pacing_server_mode,
            self.campaign_active,
            self.contacts,
            self.tick_last,
            self.task_failing,
            self.pacing_stalled,
        ):
            for labels in _children(gauge):
                if labels[0] == campaign:
                    gauge.remove(*labels)

    # --------------------------------------------------------------- asterisk

    def set_queues_missing(self, missing: Mapping[str, Sequence[str]]) -> None:
        """1 for each queue a server lacks; one defined since (or no longer needed) goes to 0,
        kept so that a graph shows when it came back."""
        now = {(server, q) for server, qs in missing.items() for q in qs}
        for labels in _children(self.queue_missing):
            if labels not in now:
                self.queue_missing.labels(*labels).set(0)
        for server, queue in now:
            self.queue_missing.labels(server, queue).set(1)

    def set_ami_state(self, server: str, state: str) -> None:
        for s in AMI_LINK_STATES:
            self.ami_link_state.labels(server, s).set(1 if s == state else 0)
        self.ami_link_up.labels(server).set(1 if state == "ready" else 0)

    # ------------------------------------------------------------------- MQTT
    # These four methods make Metrics a dialerd.bus.BusMetrics.

    def mqtt_started(self) -> None:
        """MQTT is enabled: its labelled counters start at 0, so the first outage's drops count
        in ``increase()`` (a series that appears with its first value N adds 0, not N)."""
        for reason in (DROP_DISCONNECTED, DROP_QUEUE_FULL, DROP_UNENCODABLE):
            self.mqtt_events_dropped.labels(reason)
        for outcome in ("accepted", "rejected", "failed"):
            self.mqtt_dispositions.labels(outcome)

    def mqtt_connection(self, connected: bool, reconnect: bool) -> None:
        self.mqtt_connected.set(1 if connected else 0)
        if reconnect:
            self.mqtt_reconnects.inc()

    def mqtt_published(self) -> None:
        self.mqtt_events_published.inc()

    def mqtt_dropped(self, reason: str, count: int = 1) -> None:
        self.mqtt_events_dropped.labels(reason).inc(count)

    def mqtt_disposition(self, outcome: str) -> None:
        self.mqtt_dispositions.labels(outcome).inc()

    # ------------------------------------------------------------- exposition

    def render(self) -> bytes:
        """The text exposition format for ``/metrics`` (content type :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def families(self) -> list[Family]:
        """Every metric family with its type, help and label names (for checking dashboards,
        alert rules and docs against what is exported, also before a series has a child)."""
        out = [
            Family(v._name, v._type or "untyped", v._documentation or "", tuple(v._labelnames))
            for v in vars(self).values()
            if isinstance(v, MetricWrapperBase)
        ]
        return sorted(out, key=lambda f: f.name)

    def sample_names(self) -> set[str]:
        """Every series name this registry can expose (for checking dashboards and alerts)."""
        names: set[str] = set()
        for family in self.registry.collect():
            base = family.name
            if family.type == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif family.type == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
            else:
                names.add(base)
        return names


def _children(metric: Gauge) -> list[tuple[str, ...]]:
    # prometheus-client keeps children in a private dict; snapshot its keys under its lock.
    with metric._lock:
        return [tuple(labels) for labels in metric._metrics]
