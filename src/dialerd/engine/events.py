"""Typed events the engine hands to its listeners (MQTT bus, metrics, console views).

Listeners are plain callables called synchronously in the engine's loop: they must not block
(the MQTT bus puts events on its own queue). Times are aware UTC datetimes from the engine's
clock; agents are named by their configured name (the interface when the agent is unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dialerd.domain.enums import AgentState, CallResult, Status
from dialerd.domain.model import Attempt, Contact, HistoryEntry


@dataclass(frozen=True, slots=True)
class CallProgressed:
    """A call moved to ``phase`` (dialing, ringing, answered, queued, connected, abandoned)."""

    campaign: str
    attempt_id: str
    contact_id: int
    phase: str
    at: datetime
    server: str
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """An attempt is closed and its contact has its new status (written in one transaction).

    ``status``/``status_detail`` are the contact's result in the call ``task``; ``next_task``
    is the task a taskflow rule sends it to (it enters it at once or after the rule's delay);
    ``due_at`` is when an open contact may be dialed again.
    """

    campaign: str
    attempt: Attempt
    result: CallResult
    contact_id: int
    status: Status
    status_detail: str
    task: str
    agent: str | None = None
    connect_seconds: float | None = None
    talk_seconds: float | None = None
    stale: bool = False
    """The contact changed during the call (do-not-call list, status or move by hand, deleted):
    the attempt was recorded and the contact left as it was; ``status``/``status_detail`` are
    then the contact's current ones (the outcome's if it was deleted)."""
    next_task: str | None = None
    due_at: datetime | None = None
    replayed: bool = False
    """Written by a start's replay of the journal (the database was away when the call ended,
    at a stop of an earlier run): the call ended then, not now; its times say when."""


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """An agent's state changed, or the campaigns whose queues they are in did, or whether the
    state is known did (the AMI link was lost or is back), in the same state (then
    ``previous`` is ``state``)."""

    agent: str
    interface: str
    state: AgentState
    previous: AgentState | None
    at: datetime
    server: str
    campaigns: tuple[str, ...] = ()
    paused_reason: str = ""
    unknown_since: datetime | None = None
    """Set while the AMI link to ``server`` is lost (when it was lost): ``state`` is then the
    state last seen, not what the agent does now. None while the state is current."""


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """A call was connected to ``agent``: who it is and what happened with them before."""

    campaign: str
    agent: str
    interface: str
    attempt_id: str
    contact: Contact
    history: tuple[HistoryEntry, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PreviewOffered:
    """Preview mode: ``agent`` is offered ``contact`` and accepts or skips it."""

    campaign: str
    agent: str
    contact: Contact
    history: tuple[HistoryEntry, ...] = ()
    auto_accept_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowFigures:
    name: str
    live_answers: int
    abandoned: int
    seconds_left: float

    @property
    def rate(self) -> float:
        return self.abandoned / self.live_answers if self.live_answers else 0.0


@dataclass(frozen=True, slots=True)
class ServerPacing:
    """One Asterisk server's part of a pacing decision. A campaign with agents on several
    servers is decided server by server (an answer is connected on the server its call was
    placed on, to that server's agents only): this server's agents and calls in flight, the
    calls placed on it, and the mode its decision used."""

    server: str
    calls: int
    mode_used: str
    ready: int
    talking: int
    wrapup: int
    ringing: int
    screening: int
    queued: int
    free_lines: int
    team: int


@dataclass(frozen=True, slots=True)
class PacingDecision:
    """One pacing decision and the inputs it was made from."""

    at: datetime
    calls: int
    dial_mode: str
    ready: int
    talking: int
    wrapup: int
    paused: int
    ringing: int
    screening: int
    queued: int
    free_lines: int
    answer_probability: float
    samples: int
    reason: str = ""
    answer_probability_high: float = 0.0
    """The highest answer rate of the last hour, which predictive checks bursts against."""
    abandon_burst: int = 0
    """The most abandons of the last hour within seconds of each other, which predictive's
    compliance windows keep in hand."""
    mode_used: str = ""
    """The mode the decision was made by: ``dial_mode``, except a predictive campaign held to
    progressive while its statistics would not hold (too few agents or finished calls)."""
    ring_seconds: float = 0.0
    """Estimated ring time until answer of answered calls (mean, seconds)."""
    talk_seconds: float = 0.0
    """Estimated talk time (mean, seconds)."""
    wrapup_seconds: float = 0.0
    """Estimated wrap-up time (mean, seconds)."""
    shared_agents: int = 0
    """Active agents of other campaigns' pools in this campaign's queue: not dialed for, but
    counted for ``min_agents_predictive``."""
    team: int = 0
    """The agents ``min_agents_predictive`` was checked against (``Snapshot.smoothing_agents``:
    the campaign's own and shared active agents on its server; with several, the fewest)."""
    agents_not_known: int = 0
    """Agents of the campaign's pool left out because the link to their Asterisk is lost."""
    servers: tuple[ServerPacing, ...] = ()
    """Per server, when the campaign has agents (or calls in flight) on several: each server's
    decision and inputs (the fields above then add them up; ``team`` is the smallest server's,
    ``mode_used`` the campaign's mode if any server used it). Empty for a campaign decided as
    one (its agents on one server)."""


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """Sent every pacing tick per campaign (status and pacing figures)."""

    campaign: str
    status: str
    active: bool
    calls_in_flight: int
    agents_by_state: dict[str, int] = field(default_factory=dict)
    abandonment: tuple[WindowFigures, ...] = ()
    decision: PacingDecision | None = None
    at: datetime | None = None
    abandonment_target: float | None = None
    """The abandonment target the campaign is dialed to (held to the daemon's floor)."""


@dataclass(frozen=True, slots=True)
class CampaignSwitched:
    """An automatic (or edited) campaign started or stopped queueing new calls."""

    campaign: str
    active: bool
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class OutcomesJournaled:
    """Call outcomes and the daemon's journal (:mod:`dialerd.engine.journal`): ``count``
    outcomes the store could not take at a stop were journaled (``outcome`` ``journaled``),
    or the replay at a start wrote them (``applied``), found them stored already
    (``already_stored``), recorded the attempt alone because the contact had changed
    (``stale``) or had been dialed or leased again since (``superseded``), or kept them aside
    (``failed``)."""

    outcome: str
    count: int
    journal: str


EngineEvent = (
    CallProgressed
    | AttemptFinished
    | AgentStateChanged
    | ScreenPop
    | PreviewOffered
    | CampaignFigures
    | CampaignSwitched
    | OutcomesJournaled
)
EngineListener = Callable[[EngineEvent], None]
