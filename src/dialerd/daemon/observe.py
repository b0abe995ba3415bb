"""Engine events -> Prometheus metrics, running totals for status lines and the demo, and one
log line per finished call.

The engine reports what happened (a call was placed, an attempt finished, an agent changed
state, a tick decided); this listener turns that into the daemon's metrics. It keeps only
counts and the latest state per agent, never per-call data beyond one attempt's life, so it
costs O(1) per event at any call volume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from dialerd.daemon.logging import CALLS_LOGGER
from dialerd.daemon.metrics import Metrics
from dialerd.domain.clock import iso_utc
from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.engine import (
    AgentStateChanged,
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    CampaignSwitched,
    EngineEvent,
    OutcomesJournaled,
)


@dataclass(slots=True)
class Totals:
    """Counts since start, over all campaigns (for STATUS= lines and the demo's summary)."""

    placed: int = 0
    finished: int = 0
    answered: int = 0
    connected: int = 0
    abandoned: int = 0
    results: Counter[str] = field(default_factory=Counter)

    @property
    def abandonment_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


class MetricsListener:
    """``engine.add_listener(listener)``; ``metrics`` is what ``/metrics`` serves."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.totals = Totals()
        self.agent_states: dict[str, AgentState] = {}
        self.agent_servers: dict[str, str] = {}
        self.agents_unknown: set[str] = set()
        """Agents whose state is not known now (the link to their server is lost)."""
        self._servers: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self._figures_at: dict[str, datetime] = {}
        self._campaigns: set[str] = set()

    def __call__(self, event: EngineEvent) -> None:
        m = self.metrics
        campaign = getattr(event, "campaign", None)
        if campaign is not None and campaign not in self._campaigns:
            self._campaigns.add(campaign)
            m.campaign_seen(campaign)
        if isinstance(event, CallProgressed):
            if event.phase == "dialing":
                self.totals.placed += 1
                m.call_placed(event.campaign)
        elif isinstance(event, AttemptFinished):
            self._finished(event)
        elif isinstance(event, AgentStateChanged):
            self.agent_states[event.agent] = event.state
            m.set_agents(Counter(self.agent_states.values()))
            self._state_known(event)
        elif isinstance(event, CampaignFigures):
            self._figures(event)
        elif isinstance(event, CampaignSwitched):
            m.campaign_active.labels(event.campaign).set(1 if event.active else 0)
        elif isinstance(event, OutcomesJournaled):
            m.journal_outcomes.labels(event.outcome).inc(event.count)

    def _state_known(self, event: AgentStateChanged) -> None:
        """``dialerd_agents_state_unknown{server}``: who is counted by a state last seen."""
        was_unknown = event.agent in self.agents_unknown
        new_server = event.server not in self._servers
        self._servers.add(event.server)
        moved = self.agent_servers.get(event.agent, event.server) != event.server
        self.agent_servers[event.agent] = event.server
        if event.unknown_since is None:
            self.agents_unknown.discard(event.agent)
        else:
            self.agents_unknown.add(event.agent)
        if new_server or moved or was_unknown != (event.unknown_since is not None):
            # every server with agents has a series (0 until an outage), so a query or an
            # alert on it has data before the first one
            counts = dict.fromkeys(self._servers, 0)
            counts.update(Counter(self.agent_servers[a] for a in self.agents_unknown))
            self.metrics.set_agents_state_unknown(counts)

    def _finished(self, event: AttemptFinished) -> None:
        t = self.totals
        t.finished += 1
        t.results[event.result.value] += 1
        if event.result.live_answer:
            t.answered += 1
        if event.result is CallResult.CONNECTED:
            t.connected += 1
        if event.result is CallResult.ABANDONED:
            t.abandoned += 1
        self.metrics.call_finished(event.campaign, event.result)
        a = event.attempt
        if a.originated_at is not None and a.answered_at is not None:
            setup = (a.answered_at - a.originated_at).total_seconds()
            if setup >= 0:
                self.metrics.observe_call_setup(event.campaign, setup)
        if event.connect_seconds is not None:
            self.metrics.observe_connect_delay(event.campaign, max(0.0, event.connect_seconds))
        elif a.answered_at is not None and a.connected_at is not None:
            delay = (a.connected_at - a.answered_at).total_seconds()
            if delay >= 0:
                self.metrics.observe_connect_delay(event.campaign, delay)

    def _figures(self, event: CampaignFigures) -> None:
        m = self.metrics
        c = event.campaign
        self.in_flight[c] = event.calls_in_flight
        m.set_calls_in_flight(c, event.calls_in_flight)
        m.campaign_active.labels(c).set(1 if event.active else 0)
        m.set_abandonment(
            c,
            {w.name: w.rate for w in event.abandonment},
            target=event.abandonment_target,
            live_answers={w.name: w.live_answers for w in event.abandonment},
        )
        d = event.decision
        if d is None:
            return
        self._tick(c, event.at, d.at)
        m.pacing_decision.labels(c).set(d.calls)
        try:
            mode: DialMode | None = DialMode(d.mode_used or d.dial_mode)
        except ValueError:
            mode = None
        for candidate in DialMode:
            m.pacing_mode.labels(c, candidate.value).set(1 if candidate is mode else 0)
        inputs = {
            "agents_ready": d.ready,
            "agents_talking": d.talking,
            "agents_wrapup": d.wrapup,
            "calls_in_flight": event.calls_in_flight,
            "free_lines": d.free_lines,
            "answer_rate": d.answer_probability,
            "answer_rate_high": d.answer_probability_high,
            "abandon_burst": d.abandon_burst,
            "ring_seconds": d.ring_seconds,
            "talk_seconds": d.talk_seconds,
            "wrapup_seconds": d.wrapup_seconds,
            "agents_shared": d.shared_agents,
            "agents_team": d.team,
            "agents_not_known": d.agents_not_known,
        }
        if event.abandonment:
            inputs["abandonment_rate"] = max(w.rate for w in event.abandonment)
        for name, value in inputs.items():
            m.pacing_input.labels(c, name).set(float(value))
        parts: dict[str, tuple[DialMode | None, dict[str, float]]] = {}
        for p in d.servers:
            try:
                part_mode: DialMode | None = DialMode(p.mode_used)
            except ValueError:
                part_mode = None
            parts[p.server] = (
                part_mode,
                {
                    "calls": p.calls,
                    "agents_ready": p.ready,
                    "agents_talking": p.talking,
                    "agents_wrapup": p.wrapup,
                    "calls_in_flight": p.ringing + p.screening + p.queued,
                    "free_lines": p.free_lines,
                    "agents_team": p.team,
                },
            )
        m.set_pacing_servers(c, parts)

    def _tick(self, campaign: str, figures_at: datetime | None, decided_at: datetime) -> None:
        """Tick duration: the decision is stamped when the tick starts, the figures when it
        ends (after leasing and originating). A decision older than the previous figures was
        not made in this tick (an idle campaign keeps its last one) and is not a sample."""
        if figures_at is None:
            return
        previous = self._figures_at.get(campaign)
        self._figures_at[campaign] = figures_at
        if previous is not None and decided_at < previous:
            return
        seconds = (figures_at - decided_at).total_seconds()
        if seconds >= 0:
            self.metrics.tick_duration.labels(campaign).observe(seconds)
            self.metrics.tick_last.labels(campaign).set(seconds)

    def forget_campaigns(self, keep: Iterable[str]) -> list[str]:
        """Drop the series of campaigns not in ``keep`` (their runner is gone: the campaign
        was removed), so a dashboard does not show them frozen at their last value."""
        gone = sorted(self._campaigns - set(keep))
        for campaign in gone:
            self._campaigns.discard(campaign)
            self.in_flight.pop(campaign, None)
            self._figures_at.pop(campaign, None)
            self.metrics.forget_campaign(campaign)
        return gone

    def agents_by_state(self) -> dict[str, int]:
        counts = Counter(s.value for s in self.agent_states.values())
        return dict(counts)


class CallLog:
    """``engine.add_listener(CallLog())``: one ``call finished`` line per attempt, with its
    campaign, contact and attempt ids, so one call can be followed in the journal and found
    in the API (``/campaigns/{campaign}/contacts/{contact}/attempts``) from its line. Logger
    ``dialerd.calls``: ``[logging] calls = false`` keeps the lines out. A call whose outcome
    a start wrote from the outage journal has its line then, with ``replayed=true``."""

    def __init__(self) -> None:
        self._log = structlog.get_logger(CALLS_LOGGER)

    def __call__(self, event: EngineEvent) -> None:
        if not isinstance(event, AttemptFinished):
            return
        a = event.attempt
        fields: dict[str, object] = {
            "campaign": event.campaign,
            "contact": event.contact_id,
            "attempt": a.id,
            "result": event.result.value,
            "status": event.status.value,
            "status_detail": event.status_detail,
            "task": event.task,
        }
        optional: dict[str, object | None] = {
            "agent": event.agent,
            "server": a.server,
            "cause": a.cause,
            "talk_seconds": event.talk_seconds,
            "next_task": event.next_task,
            "due_at": iso_utc(event.due_at) if event.due_at is not None else None,
            "contact_changed": True if event.stale else None,
            # written by a start's replay of the journal, not when the call ended
            "replayed": True if event.replayed else None,
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        self._log.info("call finished", **fields)
