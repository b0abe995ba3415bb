"""What :meth:`dialerd.engine.Engine.status` reports (API, console view, systemd STATUS=)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dialerd.engine.events import PacingDecision, WindowFigures


@dataclass(frozen=True, slots=True)
class CampaignView:
    id: int
    name: str
    status: str
    """Configured status: enabled, disabled or automatic."""
    active: bool
    """Queueing new calls now (schedule open, not stopping)."""
    dial_mode: str
    calls_in_flight: int
    awaiting_disposition: int
    agents_by_state: dict[str, int] = field(default_factory=dict)
    abandonment: tuple[WindowFigures, ...] = ()
    last_decision: PacingDecision | None = None
    runner: str = "starting"
    """starting, running, restarting, waiting for the store, stopped."""
    restarts: int = 0
    last_error: str | None = None
    callbacks_waiting: dict[str, int] = field(default_factory=dict)
    """Agent name -> personal callbacks due but not dialed (the agent is not ready): they wait
    for that agent, they never go to another one."""
    since_last_pass: float = 0.0
    """Seconds (engine clock) since the runner last completed a pass (its events,
    housekeeping and a pacing decision); it completes one at least every tick while it runs,
    so a large figure means it is stuck (e.g. on a database that stopped answering) or waits
    for the store."""


@dataclass(frozen=True, slots=True)
class AgentView:
    name: str
    interface: str
    state: str
    server: str
    campaigns: tuple[str, ...] = ()
    paused_reason: str = ""
    paced_by: str | None = None
    """The campaign that dials for the agent: of ``campaigns``, one at a time (docs/engine.md,
    "Agents in several campaigns")."""
    unknown_since: datetime | None = None
    """When the AMI link to the agent's server was lost: from then until the link is back and
    resynchronised ``state`` is only the state last seen (a talk shown may be long over).
    None while the state is current."""


@dataclass(frozen=True, slots=True)
class EngineStatus:
    running: bool
    stopping: bool
    campaigns: tuple[CampaignView, ...] = ()
    agents: tuple[AgentView, ...] = ()
    links: dict[str, str] = field(default_factory=dict)

    @property
    def calls_in_flight(self) -> int:
        return sum(c.calls_in_flight for c in self.campaigns)
