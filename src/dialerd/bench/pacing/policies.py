"""The policies the benchmark compares.

``progressive``, ``power`` and ``predictive`` are dialerd's own :func:`dialerd.pacing.decide`
with the campaign settings of that dial mode. ``vicidial-hard`` and ``vicidial-average`` are the
VICIdial-style adaptive ratio, written from the description in PACING-NOTES (not from its code),
with its published defaults; every assumption is listed in ``docs/pacing.md``. The oracle is not
a policy over snapshots: it is computed from the drawn outcomes (see ``simulate.run_oracle``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

from dialerd.bench.pacing.scenario import Scenario
from dialerd.domain.enums import DialMode
from dialerd.pacing import PacingSettings, Snapshot, WindowSpec, decide, ring_timeout

POLICY_NAMES = (
    "progressive",
    "power",
    "vicidial-hard",
    "vicidial-average",
    "predictive",
    "oracle",
)


class Policy(Protocol):
    name: str
    #: Decide also when an agent becomes ready, not only on the tick.
    event_driven: bool
    settings: PacingSettings
    windows: tuple[WindowSpec, ...]
    #: The simulator shows the policy each busy agent's exact free time (see ``KNOWN_AGENTS``).
    known_agents: bool

    def decide(self, snapshot: Snapshot, now: float) -> int: ...

    def ring_timeout(self, snapshot: Snapshot) -> float:
        """Seconds the calls placed on this snapshot ring before they are given up."""
        ...


def base_settings(scenario: Scenario, mode: DialMode) -> PacingSettings:
    return PacingSettings(
        dial_mode=mode,
        calls_per_ready_agent=scenario.power_ready,
        calls_per_wrapup_agent=scenario.power_wrapup,
        abandonment_target=scenario.abandonment_target,
        connect_limit_s=scenario.connect_limit_s,
        ring_timeout_s=scenario.ring_timeout_s,
        min_ring_s=scenario.min_ring_s,
        amd_delay_s=scenario.amd_delay_s if scenario.amd else 0.0,
    )


def campaign_windows(scenario: Scenario) -> tuple[WindowSpec, ...]:
    """The compliance windows the bench gives dialerd: the clock hour and the day."""
    return (
        WindowSpec("hour", scenario.abandonment_window_s),
        WindowSpec("day", 86400.0, calling_s=scenario.hours * 3600.0),
    )


@dataclass
class ModePolicy:
    """One of dialerd's dial modes, exactly as the daemon runs it.

    ``planning_rate`` set: dialerd's predictive model planning at that one abandonment rate,
    with no compliance window and no calibration. A sweep over rates traces the model's own
    curve of talk time against abandons (``dialerd bench pacing --frontier``): what any
    controller on top of this model can reach at a given abandonment, and so what limits the
    windowed policy.
    """

    name: str
    settings: PacingSettings
    windows: tuple[WindowSpec, ...]
    event_driven: bool = True
    planning_rate: float | None = None
    known_agents: bool = False

    def decide(self, snapshot: Snapshot, now: float) -> int:
        return decide(snapshot, self.planning_rate)

    def ring_timeout(self, snapshot: Snapshot) -> float:
        return ring_timeout(snapshot)


#: Prefix of a fixed-rate predictive policy's name: ``predictive@0.005`` plans at 0.5 %.
FIXED_RATE = "predictive@"
#: Suffix of a policy that is told every busy agent's exact free time, as in
#: ``predictive@0.01+known-agents``: each agent connected to a person shows as in wrap-up until
#: its talk and wrap-up end, a forecast no dialer has. Not a policy to compare; an experiment on
#: what limits one: where its curve is the ordinary one, a better forecast of agents cannot lift it.
KNOWN_AGENTS = "+known-agents"


#: Prefix of a predictive policy held to another abandonment target than the scenario's:
#: ``predictive:0.005`` is dialerd's predictive, windows and all, on a campaign whose operator
#: set the target to 0.5 %. A baseline that abandons far less than the legal limit (the
#: VICIdial-style ratio on a cold list) is compared with it at equal abandonment, as a
#: campaign manager who wanted that abandonment would configure dialerd.
TARGET = "predictive:"


def planning_rate(text: str) -> float:
    """A planning rate written as a share (``0.005`` for 0.5 %); ValueError outside [0, 1)."""
    rate = float(text)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"planning rate {text!r} must be in [0, 1)")
    return rate


def fixed_rate(name: str) -> float | None:
    """The planning rate a ``predictive@<rate>`` policy name gives; None for other names."""
    name = name.removesuffix(KNOWN_AGENTS)
    return planning_rate(name.removeprefix(FIXED_RATE)) if name.startswith(FIXED_RATE) else None


def abandonment_target(name: str) -> float | None:
    """The campaign target a ``predictive:<target>`` name gives; None for other names.

    ValueError unless the target is a share in (0, 1).
    """
    if not name.startswith(TARGET):
        return None
    text = name.removeprefix(TARGET)
    try:
        target = float(text)
    except ValueError:
        target = math.nan
    if not 0.0 < target < 1.0:
        raise ValueError(f"{name!r}: the abandonment target must be a share in (0, 1), e.g. 0.005")
    return target


def is_predictive(name: str) -> bool:
    """dialerd's windowed predictive, at the scenario's target or at its own (not fixed-rate)."""
    return name == "predictive" or name.startswith(TARGET)


def known_policy(name: str) -> bool:
    """A policy name ``--policies`` takes: one of ``POLICY_NAMES`` or ``predictive:<target>``."""
    try:
        return name in POLICY_NAMES or abandonment_target(name) is not None
    except ValueError:
        return False


@dataclass
class VicidialPolicy:
    """VICIdial-style adaptive dial level (AST_VDauto_dial + AST_VDadapt, as described).

    Every second: goal = round(level x (ready + in call)), wrap-up counted as in call; place
    goal - active calls (ringing, screening, queued, connected). Every 15 s from the last 15
    one-second samples: level *= 1 + (mean ready - mean waiting calls) / mean agents, clamped
    to [1, 3]. Drop guards: > 20 calls in the last minute with > 50 % dropped halves the level;
    > 50 calls today with drops / answers above the limit sets the level to 1.0 (HARD_LIMIT) or
    halves it (AVERAGE).
    """

    name: str
    settings: PacingSettings
    windows: tuple[WindowSpec, ...]
    variant: str = "hard"
    level: float = 1.0
    max_level: float = 3.0
    min_level: float = 1.0
    adapt_every_s: float = 15.0
    drop_limit: float = 0.03
    event_driven: bool = False
    known_agents: bool = False
    _samples: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=15))
    _next_adapt: float = 15.0
    levels: list[tuple[float, float]] = field(default_factory=list)

    def decide(self, snapshot: Snapshot, now: float) -> int:
        ready = len(snapshot.ready)
        in_call = len(snapshot.talking) + len(snapshot.wrapup) + snapshot.leaving
        agents = ready + in_call
        waiting = len(snapshot.queued)
        self._samples.append((agents, ready, waiting))
        if now >= self._next_adapt:
            self._next_adapt = now + self.adapt_every_s
            self._adapt(snapshot)
        goal = int(self.level * agents + 0.5)
        active = snapshot.calls_in_flight + len(snapshot.talking) + snapshot.leaving
        return max(0, min(goal - active, snapshot.free_lines))

    def ring_timeout(self, snapshot: Snapshot) -> float:
        """VICIdial rings every call the campaign's dial timeout."""
        return self.settings.ring_timeout_s

    def _adapt(self, snapshot: Snapshot) -> None:
        windows = {w.name: w for w in snapshot.windows}
        minute = windows.get("minute")
        day = windows.get("day")
        if minute and minute.live_answers > 20 and minute.abandoned > 0.5 * minute.live_answers:
            self.level /= 2.0
        elif day and day.live_answers > 50 and day.abandoned > self.drop_limit * day.live_answers:
            if self.variant == "hard":
                self.level = 1.0
            else:
                self.level /= 2.0
        elif self._samples:
            n = len(self._samples)
            mean_agents = sum(s[0] for s in self._samples) / n
            mean_ready = sum(s[1] for s in self._samples) / n
            mean_waiting = sum(s[2] for s in self._samples) / n
            if mean_agents > 0:
                self.level *= 1.0 + (mean_ready - mean_waiting) / mean_agents
        self.level = min(self.max_level, max(self.min_level, self.level))


def make_policy(name: str, scenario: Scenario) -> Policy:
    if name.endswith(KNOWN_AGENTS):
        policy = make_policy(name.removesuffix(KNOWN_AGENTS), scenario)
        if not isinstance(policy, ModePolicy):
            raise ValueError(f"{KNOWN_AGENTS} applies to dialerd's own modes, not to {name!r}")
        policy.name, policy.known_agents = name, True
        return policy
    if name == "progressive":
        return ModePolicy(
            name, base_settings(scenario, DialMode.PROGRESSIVE), campaign_windows(scenario)
        )
    if name == "power":
        return ModePolicy(name, base_settings(scenario, DialMode.POWER), campaign_windows(scenario))
    if name == "predictive":
        return ModePolicy(
            name, base_settings(scenario, DialMode.PREDICTIVE), campaign_windows(scenario)
        )
    target = abandonment_target(name)
    if target is not None:
        settings = replace(base_settings(scenario, DialMode.PREDICTIVE), abandonment_target=target)
        return ModePolicy(name, settings, campaign_windows(scenario))
    rate = fixed_rate(name)
    if rate is not None:
        settings = base_settings(scenario, DialMode.PREDICTIVE)
        return ModePolicy(name, settings, campaign_windows(scenario), planning_rate=rate)
    if name in ("vicidial-hard", "vicidial-average"):
        windows = (WindowSpec("minute", 60.0, rolling=True), WindowSpec("day", 86400.0))
        return VicidialPolicy(
            name,
            base_settings(scenario, DialMode.PROGRESSIVE),
            windows,
            variant="hard" if name.endswith("hard") else "average",
            drop_limit=scenario.abandonment_target,
        )
    raise ValueError(f"unknown policy {name!r}")
