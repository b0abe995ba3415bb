"""One simulated day: a discrete-event simulation on its own event heap.

The dialer side is dialerd's own :class:`~dialerd.pacing.SnapshotBuilder` fed with every agent
and call transition, and the policy under test deciding on the tick (and, for event-driven
policies, whenever an agent becomes ready). The world side is the drawn callees and agent plan
of :mod:`dialerd.bench.pacing.model`. Simulated time only: a day runs in well under a second
of real time for the simple policies.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from dialerd.bench.pacing.model import AgentPlan, Contacts, agent_schedule
from dialerd.bench.pacing.policies import Policy
from dialerd.bench.pacing.scenario import Scenario
from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing import OnlineEstimates, SnapshotBuilder
from dialerd.pacing.estimators import DEFAULT_PRIOR

# event kinds
_TICK, _ANSWER, _FAIL, _SCREENED, _DEADLINE, _TALK_END, _WRAP_END = range(7)
_LOGIN, _LOGOFF, _BREAK, _BREAK_END = range(7, 11)

_OFF, _READY, _TALK, _WRAP, _PAUSED = range(5)


@dataclass
class DayResult:
    """Raw totals of one policy on one seed; ``metrics`` turns them into the reported figures."""

    policy: str
    scenario: str
    seed: int
    logged_s: float = 0.0
    talk_s: float = 0.0
    waits: list[float] = field(default_factory=list)
    live: int = 0
    abandoned: int = 0
    hourly_live: list[int] = field(default_factory=list)
    hourly_abandoned: list[int] = field(default_factory=list)
    placed: int = 0
    completed: int = 0
    decisions: int = 0
    decide_s: list[float] = field(default_factory=list)
    agents_max: int = 0

    def metrics(self) -> dict[str, float]:
        hours = max(self.logged_s / 3600.0, 1e-9)
        rates = [
            a / lv if lv else 0.0
            for a, lv in zip(self.hourly_abandoned, self.hourly_live, strict=True)
        ]
        waits = np.asarray(self.waits) if self.waits else np.zeros(1)
        return {
            "occupancy": self.talk_s / self.logged_s if self.logged_s else 0.0,
            "talk_min_per_agent_hour": self.talk_s / 60.0 / hours,
            "wait_mean_s": float(waits.mean()),
            "wait_p95_s": float(np.percentile(waits, 95)),
            "abandon_rate": self.abandoned / self.live if self.live else 0.0,
            "abandon_worst_hour": max(rates) if rates else 0.0,
            "calls_per_agent_hour": self.placed / hours,
            "completed_per_agent_hour": self.completed / hours,
        }


class _Day:
    def __init__(self, scenario: Scenario, seed: int, policy: Policy, timed: bool) -> None:
        self.sc = scenario
        self.policy = policy
        self.timed = timed
        self.end = scenario.hours * 3600.0
        self.n_hours = max(1, math.ceil(scenario.hours))
        self.contacts = Contacts(scenario, seed)
        self.plans: list[AgentPlan] = agent_schedule(scenario, seed)
        # Only predictive pacing reads the snapshot's estimates; for the other policies the
        # builder skips refreshing them (its estimators still learn): about 15 % of their
        # simulated day (profiled on s2-large), and none of their decisions changes.
        self.builder = SnapshotBuilder(
            policy.settings,
            OnlineEstimates(DEFAULT_PRIOR),
            windows=policy.windows,
            trunk_lines=scenario.trunk_lines,
        )
        if policy.settings.dial_mode is not DialMode.PREDICTIVE:
            self.builder.estimates_refresh_s = math.inf
        self.res = DayResult(policy.name, scenario.name, seed)
        self.res.hourly_live = [0] * self.n_hours
        self.res.hourly_abandoned = [0] * self.n_hours
        n = len(self.plans)
        self.state = [_OFF] * n
        self.active_since = [0.0] * n
        self.ready_since = [0.0] * n
        self.pending: list[tuple[str, float] | None] = [None] * n
        self.agent_call = [-1] * n
        self.ready: dict[int, None] = {}
        self.queue: deque[int] = deque()
        self.queued: set[int] = set()
        self.call_contact: list[int] = []
        self.call_live: list[bool] = []
        self.talk_start = [0.0] * n
        self.next_contact = 0
        self.heap: list[tuple[float, int, int, int, float]] = []
        self.seq = 0

    # --- heap ------------------------------------------------------------------------------
    def push(self, t: float, kind: int, who: int, extra: float = 0.0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, who, extra))

    def hour(self, now: float) -> int:
        return min(int(now // 3600.0), self.n_hours - 1)

    def clip(self, t: float) -> float:
        return t if t < self.end else self.end

    # --- dialer ----------------------------------------------------------------------------
    def decide(self, now: float) -> None:
        if now >= self.end:
            return
        snap = self.builder.build(now)
        if self.timed:
            t0 = time.perf_counter()
            n = self.policy.decide(snap, now)
            self.res.decide_s.append(time.perf_counter() - t0)
        else:
            n = self.policy.decide(snap, now)
        self.res.decisions += 1
        # the list runs out: no policy can dial a contact the campaign does not have
        n = min(n, self.sc.contacts - self.next_contact)
        if n > 0:
            timeout = self.policy.ring_timeout(snap)
            for _ in range(n):
                self.place(now, timeout)

    def place(self, now: float, timeout: float) -> None:
        """Dial the next contact; unanswered, it rings ``timeout`` seconds (the policy's
        choice, at most the scenario's ring timeout)."""
        sc = self.sc
        c = self.contacts
        i = self.next_contact
        self.next_contact += 1
        c.ensure(i + 1)
        call = len(self.call_contact)
        self.call_contact.append(i)
        self.res.placed += 1
        self.builder.call_placed(call, now)
        p = sc.answer_rate_at(now)
        u = c.u[i]
        live = True
        if u < p and c.ring[i] <= timeout:
            live = c.um[i] >= sc.machine_share
            self.push(now + c.ring[i], _ANSWER, call)
        elif u < p:
            self.push(now + timeout, _FAIL, call, 0)
        elif u < p + sc.busy_share:
            self.push(now + sc.busy_after_s, _FAIL, call, 1)
        elif u < p + sc.busy_share + sc.invalid_share:
            self.push(now + sc.invalid_after_s, _FAIL, call, 2)
        else:
            self.push(now + timeout, _FAIL, call, 0)
        self.call_live.append(live)

    # --- calls -----------------------------------------------------------------------------
    def on_answer(self, now: float, call: int) -> None:
        self.builder.call_answered(call, now)
        if self.sc.amd:
            self.push(now + self.sc.amd_delay_s, _SCREENED, call)
        else:
            self.enqueue(now, call)

    def on_screened(self, now: float, call: int) -> None:
        live = self.call_live[call]
        i = self.call_contact[call]
        if not live:
            self.builder.call_screened(call, now, False)
            self.builder.call_ended(call, now, CallResult.MACHINE)
            self.line_freed(now)
            return
        if self.contacts.ufp[i] < self.sc.amd_false_positive:
            # A person taken for a machine is hung up on: abandoned (Ofcom), unseen by pacing.
            self.builder.call_screened(call, now, False)
            self.builder.call_ended(call, now, CallResult.MACHINE)
            self.count_answer(now, abandoned=True)
            return
        self.builder.call_screened(call, now, True)
        self.enqueue(now, call)

    def enqueue(self, now: float, call: int) -> None:
        if self.ready:
            agent = next(iter(self.ready))
            del self.ready[agent]
            self.connect(now, agent, call)
        else:
            self.queue.append(call)
            self.queued.add(call)
            self.push(now + self.sc.connect_limit_s, _DEADLINE, call)

    def on_deadline(self, now: float, call: int) -> None:
        if call not in self.queued:
            return
        self.queued.discard(call)
        self.queue.remove(call)
        if self.call_live[call]:
            self.builder.call_ended(call, now, CallResult.ABANDONED)
            self.count_answer(now, abandoned=True)
        else:
            self.builder.call_ended(call, now, CallResult.MACHINE)

    def count_answer(self, now: float, abandoned: bool) -> None:
        h = self.hour(now)
        self.res.hourly_live[h] += 1
        self.res.live += 1
        if abandoned:
            self.res.hourly_abandoned[h] += 1
            self.res.abandoned += 1

    def connect(self, now: float, agent: int, call: int) -> None:
        live = self.call_live[call]
        self.builder.call_connected(call, now, live)
        if now < self.end:
            self.res.waits.append(now - self.ready_since[agent])
        self.state[agent] = _TALK
        self.agent_call[agent] = call
        i = self.call_contact[call]
        if live:
            self.count_answer(now, abandoned=False)
            duration = self.contacts.talk[i]
        else:
            duration = self.sc.machine_talk_s
        if live and self.policy.known_agents:
            # the experiment of KNOWN_AGENTS: the dialer sees when this agent will be free
            free_in = duration + self.contacts.wrap[i]
            self.builder.agent_state(agent, AgentState.WRAPUP, now, wrapup_s=free_in)
        else:
            self.builder.agent_state(agent, AgentState.TALKING, now)
        self.talk_start[agent] = now
        self.push(now + duration, _TALK_END, agent)

    # --- agents ----------------------------------------------------------------------------
    def agent_ready(self, now: float, agent: int) -> None:
        self.state[agent] = _READY
        self.ready_since[agent] = now
        self.builder.agent_state(agent, AgentState.READY, now)
        while self.queue:
            call = self.queue.popleft()
            self.queued.discard(call)
            self.connect(now, agent, call)
            return
        self.ready[agent] = None
        self.line_freed(now)

    def line_freed(self, now: float) -> None:
        """Event-driven policies decide again when ready agents outnumber the calls in
        flight (otherwise the next tick, at most a second away, decides)."""
        if self.policy.event_driven and len(self.ready) > self.builder.calls_in_flight:
            self.decide(now)

    def go_inactive(self, now: float, agent: int, state: int) -> None:
        if self.state[agent] in (_READY, _TALK, _WRAP):
            self.res.logged_s += self.clip(now) - self.clip(self.active_since[agent])
        self.ready.pop(agent, None)
        self.state[agent] = state
        self.builder.agent_state(
            agent, AgentState.PAUSED if state == _PAUSED else AgentState.OFFLINE, now
        )

    def on_login(self, now: float, agent: int) -> None:
        self.active_since[agent] = now
        self.agent_ready(now, agent)

    def on_talk_end(self, now: float, agent: int) -> None:
        call = self.agent_call[agent]
        if self.call_live[call]:
            self.res.talk_s += self.clip(now) - self.clip(self.talk_start[agent])
            if now <= self.end:
                self.res.completed += 1
            if self.policy.known_agents:
                # the builder saw this agent in wrap-up from the connect on, so it did not see
                # the talk end: the talk-time estimate learns it here, as in an ordinary run
                self.builder.estimates.record_talk(now - self.talk_start[agent])
        wrap = self.contacts.wrap[self.call_contact[call]]
        self.state[agent] = _WRAP
        self.builder.agent_state(agent, AgentState.WRAPUP, now, wrapup_s=wrap)
        self.push(now + wrap, _WRAP_END, agent)

    def on_wrap_end(self, now: float, agent: int) -> None:
        pend = self.pending[agent]
        if pend is None:
            self.agent_ready(now, agent)
            return
        self.pending[agent] = None
        kind, duration = pend
        if kind == "logoff":
            self.go_inactive(now, agent, _OFF)
        else:
            self.go_inactive(now, agent, _PAUSED)
            self.push(now + duration, _BREAK_END, agent)

    def on_logoff(self, now: float, agent: int) -> None:
        st = self.state[agent]
        if st in (_READY, _PAUSED):
            self.go_inactive(now, agent, _OFF)
        elif st in (_TALK, _WRAP):
            self.pending[agent] = ("logoff", 0.0)
            self.builder.agent_leaving(agent)

    def on_break(self, now: float, agent: int, duration: float) -> None:
        st = self.state[agent]
        if st == _READY:
            self.go_inactive(now, agent, _PAUSED)
            self.push(now + duration, _BREAK_END, agent)
        elif st in (_TALK, _WRAP) and self.pending[agent] is None:
            self.pending[agent] = ("break", duration)
            self.builder.agent_leaving(agent)

    def on_break_end(self, now: float, agent: int) -> None:
        if self.state[agent] == _PAUSED:
            self.active_since[agent] = now
            self.agent_ready(now, agent)

    # --- run -------------------------------------------------------------------------------
    def run(self) -> DayResult:
        for a, plan in enumerate(self.plans):
            self.push(plan.login_s, _LOGIN, a)
            if plan.logoff_s < math.inf:
                self.push(plan.logoff_s, _LOGOFF, a)
            for start, duration in plan.breaks:
                self.push(start, _BREAK, a, duration)
        self.res.agents_max = len(self.plans)
        self.push(0.0, _TICK, -1)
        tick = self.sc.tick_s
        heap = self.heap
        pop = heapq.heappop
        while heap:
            now, _, kind, who, extra = pop(heap)
            if kind == _TICK:
                self.decide(now)
                if now + tick < self.end:
                    self.push(now + tick, _TICK, -1)
            elif kind == _ANSWER:
                self.on_answer(now, who)
            elif kind == _FAIL:
                result = (CallResult.NO_ANSWER, CallResult.BUSY, CallResult.INVALID_NUMBER)
                self.builder.call_ended(who, now, result[int(extra)])
                self.line_freed(now)
            elif kind == _SCREENED:
                self.on_screened(now, who)
            elif kind == _DEADLINE:
                self.on_deadline(now, who)
            elif kind == _TALK_END:
                self.on_talk_end(now, who)
            elif kind == _WRAP_END:
                self.on_wrap_end(now, who)
            elif kind == _LOGIN:
                self.on_login(now, who)
            elif kind == _LOGOFF:
                self.on_logoff(now, who)
            elif kind == _BREAK:
                self.on_break(now, who, extra)
            elif kind == _BREAK_END:
                self.on_break_end(now, who)
        for a, st in enumerate(self.state):
            if st in (_READY, _TALK, _WRAP):
                self.res.logged_s += self.end - self.clip(self.active_since[a])
        return self.res


def run_day(scenario: Scenario, seed: int, policy: Policy, timed: bool = False) -> DayResult:
    """Simulate one day of ``scenario`` with ``policy``; ``timed`` records each decision's cost."""
    return _Day(scenario, seed, policy, timed).run()


def run_oracle(scenario: Scenario, seed: int) -> DayResult:
    """The clairvoyant limit: every live answer reaches its agent the instant the agent frees.

    The oracle walks the same contact list; it knows which calls will be answered by a person
    and when, so it dials them exactly that long before an agent frees up (dialing the others
    costs lines, not agent time). No agent ever waits, nothing is abandoned; talk ÷ (talk +
    wrap-up) is the physical limit.
    """
    sc = scenario
    end = sc.hours * 3600.0
    n_hours = max(1, math.ceil(sc.hours))
    res = DayResult("oracle", sc.name, seed)
    res.hourly_live = [0] * n_hours
    res.hourly_abandoned = [0] * n_hours
    c = Contacts(sc, seed)
    plans = agent_schedule(sc, seed)
    res.agents_max = len(plans)
    heap: list[tuple[float, int, float]] = []  # (free at, agent, active since)
    for a, plan in enumerate(plans):
        heapq.heappush(heap, (plan.login_s, a, plan.login_s))
    breaks = [list(p.breaks) for p in plans]
    nxt = 0
    amd = sc.amd_delay_s if sc.amd else 0.0
    while heap:
        free, a, since = heapq.heappop(heap)
        plan = plans[a]
        if breaks[a] and breaks[a][0][0] <= free:
            start, duration = breaks[a].pop(0)
            res.logged_s += min(free, end) - min(since, end)
            back = max(free, start) + duration
            heapq.heappush(heap, (back, a, back))
            continue
        if free >= plan.logoff_s or free >= end:
            res.logged_s += min(free, end, max(plan.logoff_s, free)) - min(since, end)
            continue
        while nxt < sc.contacts:
            c.ensure(nxt + 1)
            i = nxt
            nxt += 1
            res.placed += 1
            placed_at = free - c.ring[i] - amd
            if (
                c.u[i] < sc.answer_rate_at(max(placed_at, 0.0))
                and c.ring[i] <= sc.ring_timeout_s
                and c.um[i] >= sc.machine_share
                and c.ufp[i] >= sc.amd_false_positive
            ):
                break
        else:
            # the list ran out: the agent stays logged in, idle, until a break, log-off or the end
            idle_until = min(plan.logoff_s, end, *(b[0] for b in breaks[a][:1]))
            heapq.heappush(heap, (idle_until, a, since))
            continue
        res.hourly_live[min(int(free // 3600.0), n_hours - 1)] += 1
        res.live += 1
        res.waits.append(0.0)
        talk_end = free + c.talk[i]
        res.talk_s += min(talk_end, end) - free
        if talk_end <= end:
            res.completed += 1
        heapq.heappush(heap, (talk_end + c.wrap[i], a, since))
    return res
