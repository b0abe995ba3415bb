"""What pacing sees: one frozen snapshot of a campaign at one instant.

The engine and the benchmark both build it with :class:`dialerd.pacing.builder.SnapshotBuilder`,
so the policy the benchmark measures is fed exactly what the daemon feeds it. Everything is
relative to the snapshot's instant (elapsed or remaining seconds), so pacing never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialerd.domain.enums import DialMode
from dialerd.pacing.distributions import Distribution, LogNormal


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """A campaign's dialing settings as pacing needs them.

    ``risk`` is the accepted probability that a window ends above the abandonment target; the
    predictive controller sizes its abandonment rate so that the measured count stays under the
    target with at least ``1 - risk`` probability.
    """

    dial_mode: DialMode = DialMode.PROGRESSIVE
    calls_per_ready_agent: float = 1.0
    calls_per_wrapup_agent: float = 0.0
    abandonment_target: float = 0.03
    min_agents_predictive: int = 5
    min_samples: int = 30
    connect_limit_s: float = 2.0
    ring_timeout_s: float = 25.0
    amd_delay_s: float = 0.0
    risk: float = 0.005
    min_ring_s: float = 15.0
    """The shortest ring predictive may give an unanswered call (see :mod:`dialerd.pacing.ring`);
    at or above ``ring_timeout_s`` every call rings the full timeout."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.abandonment_target < 1.0:
            raise ValueError("abandonment_target must be in [0, 1)")
        if self.calls_per_ready_agent < 0 or self.calls_per_wrapup_agent < 0:
            raise ValueError("calls per agent must not be negative")
        if self.connect_limit_s < 0 or self.ring_timeout_s <= 0 or self.amd_delay_s < 0:
            raise ValueError("connect limit, ring timeout and AMD delay must not be negative")
        if self.min_ring_s <= 0:
            raise ValueError("min_ring_s must be positive")
        if not 0.0 < self.risk < 1.0:
            raise ValueError("risk must be in (0, 1)")


@dataclass(frozen=True, slots=True)
class AbandonmentWindow:
    """Live answers and abandoned calls so far in one compliance window of the campaign.

    ``seconds_left`` is how long the window still runs (a rolling window gives its length):
    it tells the controller how many more live answers the window will see. ``next_s`` is the
    calling time of the window that follows a fixed window (0 for rolling ones): calls placed
    just before the edge abandon in the next window, so the edge dials at that window's rate.
    """

    name: str
    live_answers: int
    abandoned: int
    seconds_left: float
    next_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Estimates:
    """Online estimates from finished attempts, recent ones weighted more.

    ``answer_probability`` is per call placed (live persons and machines); ``live_share`` the
    share of answers that are live persons. ``answer_delay`` is ring time until answer of
    answered calls, ``failure_delay`` the time until an unanswered call gives up (busy after
    seconds, no-answer at the timeout). ``samples`` counts observed finished attempts.
    """

    answer_probability: float = 0.3
    live_share: float = 1.0
    answer_delay: Distribution = field(default_factory=lambda: LogNormal(8.0, 4.0))
    failure_delay: Distribution = field(default_factory=lambda: LogNormal(20.0, 8.0))
    talk: Distribution = field(default_factory=lambda: LogNormal(150.0, 90.0))
    wrapup: Distribution = field(default_factory=lambda: LogNormal(20.0, 10.0))
    samples: int = 0
    answered_samples: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A campaign at one instant.

    Agents by state, each with its time in that state: ``ready`` (seconds waiting), ``talking``
    (seconds of talk so far; an agent whose phone rings for a connected call counts as talking
    from 0), ``wrapup`` (seconds of wrap-up LEFT), ``paused``. Agents who asked to pause or log
    off after their current call are ``leaving``: busy now, not ready after.
    Calls in flight: ``ringing`` (seconds rung, not answered), ``screening`` (answered, AMD
    deciding: seconds since answer), ``queued`` (answered live, waiting for an agent: seconds
    waited). ``free_lines`` is the trunk limit minus the calls in flight.
    """

    settings: PacingSettings
    estimates: Estimates
    free_lines: int
    ready: tuple[float, ...] = ()
    talking: tuple[float, ...] = ()
    wrapup: tuple[float, ...] = ()
    paused: tuple[float, ...] = ()
    leaving: int = 0
    offline: int = 0
    ringing: tuple[float, ...] = ()
    screening: tuple[float, ...] = ()
    queued: tuple[float, ...] = ()
    windows: tuple[AbandonmentWindow, ...] = ()
    accepted_previews: int = 0
    calibration: float = 1.0
    """Abandons measured per abandon the model planned (see :mod:`dialerd.pacing.calibration`)."""
    answer_probability_high: float = 0.0
    """The highest answer rate of the last hour (0: none measured yet), by the recency-weighted
    average (the change-point estimate jumps on a short run of answers). Predictive checks
    its calls in flight against it: a rate that fell may rise again before the calls placed
    on the low one are answered (see ``predictive.stress_count``)."""
    abandon_burst: int = 0
    """The most abandons of the last hour within a few seconds of each other (0: none). A
    compliance window keeps that many in hand, not one: the next burst can be as large
    (see ``predictive._window_rate``)."""
    team: int | None = None
    """The agents over whom the snapshot's live answers even out, as the engine counts them
    (None: its own active agents): every active agent who can take them, its own (its pacing
    pool) and those of other campaigns' pools in its queue (agents shared between campaigns,
    see :mod:`dialerd.engine.pools`), on one Asterisk (a call is connected on the server it
    was placed on): a campaign with agents on several is decided server by server, each
    snapshot with its server's team (see ``campaign_agents``)."""
    campaign_agents: int | None = None
    """The campaign's active agents over all its parts, when this snapshot is one part of it
    (None: the snapshot is the whole campaign). A campaign with agents on several Asterisk
    servers is decided server by server: an answer is connected on the server its call was
    placed on, to that server's agents only, so each server's snapshot holds its own agents
    and calls. Its compliance windows are the campaign's, though: the rate they allow is
    worked out on the campaign's forecast of live answers (all its agents), the same for
    every part, and each part holds its own expected abandons under that rate times its own
    expected live answers, so their sum stays under the rate times the campaign's. What is
    left of a window's budget (the burst stress test and the pair guard read it) is shared
    out in proportion to the parts' active agents (``budget_share``), and so is the abandon
    the pair guard lets through (``predictive.pair_allowance``)."""

    @property
    def window_agents(self) -> int:
        """The active agents the compliance windows forecast the campaign's live answers for:
        ``campaign_agents``, else this snapshot's."""
        if self.campaign_agents is None:
            return self.active_agents
        return self.campaign_agents

    @property
    def budget_share(self) -> float:
        """This snapshot's share of what the campaign's windows have left: its active agents'
        share of the campaign's (1 for the whole campaign)."""
        if self.campaign_agents is None:
            return 1.0
        return min(1.0, self.active_agents / max(self.campaign_agents, 1))

    @property
    def smoothing_agents(self) -> int:
        """What ``min_agents_predictive`` is checked against: ``team``, else the campaign's
        own active agents. A campaign that shares a team paces for its share of it, but a
        call it over-dials can go to any of the team, so its risk of abandon is that of the
        team's size, not of its share's; and of the team on the server the call is on."""
        if self.team is None:
            return len(self.ready) + len(self.talking) + len(self.wrapup)
        return self.team

    @property
    def calls_in_flight(self) -> int:
        return len(self.ringing) + len(self.screening) + len(self.queued)

    @property
    def active_agents(self) -> int:
        """Agents who take calls now or after their current one (not paused, not leaving)."""
        return len(self.ready) + len(self.talking) + len(self.wrapup)
