"""Keeps a campaign's live state and turns it into a :class:`Snapshot` on demand.

The daemon's engine and ``dialerd bench pacing`` both drive this one class, so the benchmark
measures the policy on exactly the snapshots the daemon would build. Times are plain seconds on
the caller's monotonic scale; the builder never reads a clock. Agent and call ids are whatever
the caller uses (hashable). Estimates are refreshed into the snapshot at most every
``estimates_refresh_s`` seconds: they move slowly, and rebuilding the distributions on every
decision would cost more than the decision.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Hashable
from dataclasses import dataclass

from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing.calibration import Calibration
from dialerd.pacing.estimators import OnlineEstimates
from dialerd.pacing.predictive import planning_rate
from dialerd.pacing.snapshot import AbandonmentWindow, Estimates, PacingSettings, Snapshot

#: How far back ``Snapshot.answer_probability_high`` looks: a compliance window's length (an
#: hour), so a burst at the start of a window is checked against the rate of the last one.
HIGH_MEMORY_S = 3600.0
#: ``Snapshot.abandon_burst`` counts the abandons within this many seconds of each other (one
#: burst: several answers at once found no agent) ...
BURST_SPAN_S = 5.0
#: ... over the last hour (a compliance window's length): the largest burst a window just had
#: is the one it must be ready for again.
BURST_MEMORY_S = 3600.0


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A compliance window. Fixed windows restart every ``length_s`` (aligned so that
    ``now + offset_s`` is a multiple of the length: pass the campaign's local midnight as the
    offset for a calendar day); rolling windows cover the last ``length_s`` seconds.
    ``calling_s``: seconds into a fixed window after which the campaign no longer calls (its
    schedule), so the controller does not expect live answers through the night."""

    name: str
    length_s: float
    rolling: bool = False
    offset_s: float = 0.0
    calling_s: float | None = None


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a campaign that pacing decides for on its own: the agents and calls in
    flight that can meet only each other (the engine's part is one Asterisk server: a call is
    connected on the server it was placed on, to that server's agents). ``team`` is the
    part's ``Snapshot.team``. The part's snapshot keeps the campaign's estimates, compliance
    windows and calibration, and says how many active agents the whole campaign has
    (``Snapshot.campaign_agents``), so the rate its windows allow is the campaign's."""

    agents: frozenset[Hashable]
    calls: frozenset[Hashable]
    team: int | None = None


class _SlidingMax:
    """The largest value pushed within the last ``memory_s`` seconds: a deque of (time, value)
    whose values decrease, so its front is the answer and each push pops what it outranks."""

    def __init__(self, memory_s: float) -> None:
        self.memory_s = memory_s
        self._q: deque[tuple[float, float]] = deque()

    def push(self, now: float, value: float) -> None:
        q = self._q
        while q and q[-1][1] <= value:
            q.pop()
        q.append((now, value))

    def expire(self, now: float) -> None:
        q = self._q
        while q and q[0][0] < now - self.memory_s:
            q.popleft()

    def largest(self) -> float:
        """0 when nothing was pushed within the memory."""
        return self._q[0][1] if self._q else 0.0


class _Window:
    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self._bucket = min(60.0, spec.length_s / 12.0)
        self.live = 0
        self.abandoned = 0
        self._index: int | None = None
        self._buckets: deque[list[float]] = deque()  # [bucket start, live, abandoned]

    def _roll(self, now: float) -> None:
        spec = self.spec
        if spec.rolling:
            edge = now - spec.length_s
            while self._buckets and self._buckets[0][0] + self._bucket <= edge:
                _, lv, ab = self._buckets.popleft()
                self.live -= int(lv)
                self.abandoned -= int(ab)
        else:
            index = int((now + spec.offset_s) // spec.length_s)
            if index != self._index:
                self._index = index
                self.live = 0
                self.abandoned = 0

    def add(self, now: float, live: int, abandoned: int) -> None:
        self._roll(now)
        self.live += live
        self.abandoned += abandoned
        if self.spec.rolling:
            start = now - now % self._bucket
            if not self._buckets or self._buckets[-1][0] != start:
                self._buckets.append([start, 0.0, 0.0])
            self._buckets[-1][1] += live
            self._buckets[-1][2] += abandoned

    def view(self, now: float) -> AbandonmentWindow:
        spec = self.spec
        if spec.rolling:
            self._roll(now)
            return AbandonmentWindow(spec.name, self.live, self.abandoned, spec.length_s, 0.0)
        # a fixed window: _roll inlined (every snapshot views every window)
        length = spec.length_s
        shifted = now + spec.offset_s
        index = int(shifted // length)
        if index != self._index:
            self._index = index
            self.live = 0
            self.abandoned = 0
        calling = spec.calling_s
        elapsed = shifted % length
        left = length - elapsed
        if calling is None:
            return AbandonmentWindow(spec.name, self.live, self.abandoned, left, length)
        left = max(0.0, min(left, calling - elapsed))
        return AbandonmentWindow(spec.name, self.live, self.abandoned, left, min(calling, length))


class SnapshotBuilder:
    """Live agent and call state of one campaign, plus its estimates and windows."""

    def __init__(
        self,
        settings: PacingSettings,
        estimates: OnlineEstimates | None = None,
        windows: tuple[WindowSpec, ...] = (WindowSpec("day", 86400.0),),
        trunk_lines: int = 1_000_000,
        estimates_refresh_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.estimates_refresh_s = estimates_refresh_s
        self._estimates_at = -math.inf
        self._estimates: Estimates | None = None
        self._highs = _SlidingMax(HIGH_MEMORY_S)  # the answer probability at each refresh
        self._abandons: deque[float] = deque()  # abandon times of the last BURST_SPAN_S
        self._bursts = _SlidingMax(BURST_MEMORY_S)  # at each abandon, the burst it ends
        self._offline = 0
        self.estimates = estimates or OnlineEstimates()
        self.trunk_lines = trunk_lines
        self._windows = [_Window(w) for w in windows]
        self._state: dict[Hashable, AgentState] = {}
        self._since: dict[Hashable, float] = {}
        self._ready: dict[Hashable, float] = {}
        self._talking: dict[Hashable, float] = {}
        self._wrapup: dict[Hashable, float] = {}  # agent -> wrap-up end
        self._paused: dict[Hashable, float] = {}
        self._leaving: set[Hashable] = set()
        self._ringing: dict[Hashable, float] = {}  # call -> placed at
        self._screening: dict[Hashable, float] = {}  # call -> answered at
        self._queued: dict[Hashable, float] = {}  # call -> queued at
        self.calibration = Calibration()
        self._plan_snapshot: Snapshot | None = None
        self.reserved: dict[Hashable, Hashable] = {}
        """call -> agent: a call placed for one agent (a personal callback). Until it leaves
        flight the pair is outside the pool: the agent is not free for pool calls and the
        call is no pool call in flight (it still takes a line)."""
        self.unseen_agents: frozenset[Hashable] = frozenset()
        """Agents left out of the snapshot while their state is not known (the link to their
        Asterisk is lost): the state last seen is kept, and counts again when they are."""
        self.unseen_calls: frozenset[Hashable] = frozenset()
        """Calls left out of the snapshot for the same reason (placed on that Asterisk, they
        can reach only its agents); they still take a line (``free_lines``)."""
        self.team: int | None = None
        """``Snapshot.team``, as the caller last set it."""

    # --- agents ---------------------------------------------------------------------------
    def agent_state(
        self, agent: Hashable, state: AgentState, now: float, wrapup_s: float | None = None
    ) -> None:
        """An agent changed state; ``wrapup_s`` is the wrap-up time granted when entering
        ``wrapup``. Leaving talking or wrap-up feeds the talk and wrap-up estimates."""
        old = self._state.get(agent)
        since = self._since.get(agent, now)
        if old is AgentState.TALKING and state is not AgentState.TALKING:
            self.estimates.record_talk(now - since)
        elif old is AgentState.WRAPUP and state is not AgentState.WRAPUP:
            self.estimates.record_wrapup(now - since)
        for table in (self._ready, self._talking, self._wrapup, self._paused):
            table.pop(agent, None)
        if old is AgentState.OFFLINE:
            self._offline -= 1
        if state is AgentState.OFFLINE:
            self._offline += 1
        self._state[agent] = state
        self._since[agent] = now
        if state is AgentState.READY:
            self._ready[agent] = now
        elif state in (AgentState.TALKING, AgentState.RINGING):
            self._talking[agent] = now
        elif state is AgentState.WRAPUP:
            length = wrapup_s if wrapup_s is not None else self.estimates.wrapup.distribution.mean
            self._wrapup[agent] = now + length
        elif state is AgentState.PAUSED:
            self._paused[agent] = now
        if state in (AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE):
            self._leaving.discard(agent)

    def agent_leaving(self, agent: Hashable, leaving: bool = True) -> None:
        """The agent asked to pause or log off after the current call."""
        if leaving:
            self._leaving.add(agent)
        else:
            self._leaving.discard(agent)

    # --- calls ----------------------------------------------------------------------------
    def call_placed(self, call: Hashable, now: float) -> None:
        self._ringing[call] = now
        snap = self._plan_snapshot
        if snap is not None:
            # the first call placed on a predictive snapshot: the rate the model planned with
            self._plan_snapshot = None
            self.calibration.plan_rate = planning_rate(snap) or 0.0
        self.calibration.placed(call)

    def call_answered(self, call: Hashable, now: float) -> None:
        """The callee picked up: screened by AMD when the campaign has it, else queued."""
        placed = self._ringing.pop(call, now)
        self.estimates.record_answer(now - placed)
        if self.settings.amd_delay_s > 0:
            self._screening[call] = now
        else:
            self._queued[call] = now

    def call_screened(self, call: Hashable, now: float, live: bool) -> None:
        """AMD decided: a live person waits for an agent, a machine is hung up."""
        self._screening.pop(call, None)
        self.estimates.record_live(live)
        if live:
            self._queued[call] = now

    def call_connected(self, call: Hashable, now: float, live: bool = True) -> None:
        self._queued.pop(call, None)
        self._screening.pop(call, None)
        if self.settings.amd_delay_s <= 0:
            self.estimates.record_live(live)
        if live:
            for w in self._windows:
                w.add(now, 1, 0)
        if live:
            self.calibration.live_answer(call, False)
        else:
            self.calibration.forget(call)

    def call_ended(self, call: Hashable, now: float, result: CallResult) -> None:
        """A call left flight without an agent: unanswered, machine, or abandoned."""
        placed = self._ringing.pop(call, None)
        if placed is not None and result not in (CallResult.ABANDONED, CallResult.FAILED_UNKNOWN):
            # failed_unknown: the end was not seen (a lost link, a call never sent), so it says
            # nothing of the answer rate; counted unanswered after ringing a whole outage, it
            # would lower the rate and have pacing over-dial once the link is back
            self.estimates.record_failure(now - placed)
        self._screening.pop(call, None)
        self._queued.pop(call, None)
        if result is CallResult.ABANDONED:
            for w in self._windows:
                w.add(now, 1, 1)
            self.calibration.live_answer(call, True)
            self._remember_burst(now)
        else:
            self.calibration.forget(call)

    def estimates_changed(self) -> None:
        """The estimates were fed from outside the transitions (a campaign's history at start):
        the next snapshot takes them at once, not at the next refresh."""
        self._estimates = None

    def restore_window(self, name: str, live_answers: int, abandoned: int) -> None:
        """Persisted counts after a restart, so a restart does not reset the rate."""
        for w in self._windows:
            if w.spec.name == name:
                w.live = live_answers
                w.abandoned = abandoned

    # --- snapshot -------------------------------------------------------------------------
    @property
    def calls_in_flight(self) -> int:
        return len(self._ringing) + len(self._screening) + len(self._queued)

    def build(self, now: float, accepted_previews: int = 0, part: Part | None = None) -> Snapshot:
        """The campaign's snapshot at ``now``; with ``part``, the snapshot of that part of it:
        only its agents and calls in flight (the others are left out as the unseen ones are),
        with the campaign's active agents in ``campaign_agents``."""
        unseen = self.unseen_agents
        unseen_calls = self.unseen_calls
        team = self.team
        campaign_agents: int | None = None
        if part is not None:
            campaign_agents = self._active_agents(unseen)
            unseen = unseen | (self._state.keys() - part.agents)
            in_flight_calls = self._ringing.keys() | self._screening.keys() | self._queued.keys()
            unseen_calls = unseen_calls | (in_flight_calls - part.calls)
            team = part.team
        leaving: Collection[Hashable] = self._leaving
        if unseen:
            leaving = self._leaving | unseen
        talking = _elapsed(now, self._talking, leaving)
        if leaving:
            wrapup = tuple([max(0.0, t - now) for a, t in self._wrapup.items() if a not in leaving])
            n_leaving = sum(
                1
                for a in self._leaving
                if (a in self._talking or a in self._wrapup) and a not in unseen
            )
        else:
            wrapup = tuple([t - now if t > now else 0.0 for t in self._wrapup.values()])
            n_leaving = 0
        if self._estimates is None or now - self._estimates_at >= self.estimates_refresh_s:
            self._estimates = self.estimates.estimates()
            self._estimates_at = now
            self._remember_high(now, self._estimates.samples, self.estimates.answer.average)
        # a call placed for one agent (personal callback) and that agent are outside the pool
        calls: Collection[Hashable] = self.reserved
        agents: Collection[Hashable] = set(self.reserved.values()) if calls else ()
        offline = self._offline
        if unseen:
            agents = set(agents) | unseen
            offline -= sum(1 for a in unseen if self._state.get(a) is AgentState.OFFLINE)
        if unseen_calls:
            calls = set(calls) | unseen_calls
        in_flight = len(self._ringing) + len(self._screening) + len(self._queued)
        snap = Snapshot(
            settings=self.settings,
            estimates=self._estimates,
            free_lines=max(0, self.trunk_lines - in_flight),
            ready=_elapsed(now, self._ready, agents),
            talking=talking,
            wrapup=wrapup,
            paused=_elapsed(now, self._paused, unseen),
            leaving=n_leaving,
            offline=offline,
            ringing=_elapsed(now, self._ringing, calls),
            screening=_elapsed(now, self._screening, calls),
            queued=_elapsed(now, self._queued, calls),
            windows=tuple([w.view(now) for w in self._windows]),
            accepted_previews=accepted_previews,
            calibration=self.calibration.ratio,
            answer_probability_high=self._highs.largest(),
            abandon_burst=self._burst(now),
            team=team,
            campaign_agents=campaign_agents,
        )
        if self.settings.dial_mode is DialMode.PREDICTIVE:
            # the calls placed on this snapshot carry the rate the model plans with; worked
            # out when the first of them is placed (most decisions place none)
            self._plan_snapshot = snap
        return snap

    def _active_agents(self, unseen: Collection[Hashable]) -> int:
        """The active agents (``Snapshot.active_agents``) of the whole campaign's snapshot:
        ready ones not reserved for a callback, talking and wrap-up ones not leaving, none of
        them unseen."""
        reserved = set(self.reserved.values())
        ready = sum(1 for a in self._ready if a not in unseen and a not in reserved)
        busy = sum(
            1
            for table in (self._talking, self._wrapup)
            for a in table
            if a not in unseen and a not in self._leaving
        )
        return ready + busy

    def _remember_high(self, now: float, samples: int, p: float) -> None:
        """Keep the highest answer rate of the last hour, from measured rates only (before
        ``min_samples`` the estimate is mostly the prior)."""
        if samples >= self.settings.min_samples:
            self._highs.push(now, p)
        self._highs.expire(now)

    def _remember_burst(self, now: float) -> None:
        """An abandon: the burst it ends is the abandons of the last ``BURST_SPAN_S``."""
        recent = self._abandons
        recent.append(now)
        while recent[0] < now - BURST_SPAN_S:
            recent.popleft()
        self._bursts.push(now, float(len(recent)))

    def _burst(self, now: float) -> int:
        self._bursts.expire(now)
        return int(self._bursts.largest())


def _elapsed(
    now: float, since: dict[Hashable, float], skip: Collection[Hashable]
) -> tuple[float, ...]:
    """Seconds since each entry's time, leaving out the keys in ``skip``."""
    if not since:
        return ()
    if skip:
        return tuple([now - t for k, t in since.items() if k not in skip])
    return tuple([now - t for t in since.values()])
