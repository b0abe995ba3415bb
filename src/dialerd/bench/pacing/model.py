"""The callee and agent model of one simulated day, drawn once per seed.

Every policy of a run sees the same callees in the same order (contact i has the same answer
draw, ring time, talk time for every policy) and the same agent schedule: common random numbers,
so differences between policies are the policies', not the dice's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from dialerd.bench.pacing.scenario import DurationSpec, Scenario

_CHUNK = 8192


def _draw(rng: np.random.Generator, spec: DurationSpec, n: int) -> NDArray[np.float64]:
    if spec.kind == "fixed":
        return np.full(n, spec.mean)
    var = math.log1p((spec.sd / spec.mean) ** 2)
    mu = math.log(spec.mean) - var / 2.0
    out: NDArray[np.float64] = rng.lognormal(mu, math.sqrt(var), n)
    return out


class Contacts:
    """Callee behaviour, drawn lazily in chunks from the seed's own stream.

    ``u`` decides the outcome against the answer rate at the time of the call, ``um`` machine
    or person, ``ufp`` an AMD false positive; ``ring`` is when the callee would answer, ``talk``
    how long the conversation lasts, ``wrap`` the agent's wrap-up after it.
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self._sc = scenario
        self._rng = np.random.default_rng([seed, 1])
        self.u: list[float] = []
        self.um: list[float] = []
        self.ufp: list[float] = []
        self.ring: list[float] = []
        self.talk: list[float] = []
        self.wrap: list[float] = []

    def ensure(self, n: int) -> None:
        while len(self.u) < n:
            rng = self._rng
            self.u.extend(rng.random(_CHUNK).tolist())
            self.um.extend(rng.random(_CHUNK).tolist())
            self.ufp.extend(rng.random(_CHUNK).tolist())
            self.ring.extend(_draw(rng, self._sc.ring, _CHUNK).tolist())
            self.talk.extend(_draw(rng, self._sc.talk, _CHUNK).tolist())
            self.wrap.extend(_draw(rng, self._sc.wrapup, _CHUNK).tolist())


@dataclass
class AgentPlan:
    login_s: float
    logoff_s: float = math.inf
    breaks: list[tuple[float, float]] = field(default_factory=list)  # (start, duration)


def agent_schedule(scenario: Scenario, seed: int) -> list[AgentPlan]:
    """Log-ins, log-offs and breaks of every agent of the day, from the seed's own stream."""
    rng = np.random.default_rng([seed, 2])
    spread = scenario.login_spread_min * 60.0
    plans = [
        AgentPlan(float(rng.uniform(0.0, spread)) if spread > 0 else 0.0)
        for _ in range(scenario.agents)
    ]
    for ch in sorted(scenario.changes, key=lambda c: c.at_h):
        at = ch.at_h * 3600.0
        sp = ch.spread_min * 60.0
        if ch.count > 0:
            for _ in range(ch.count):
                plans.append(AgentPlan(at + (float(rng.uniform(0.0, sp)) if sp > 0 else 0.0)))
        else:
            present = [p for p in plans if p.login_s <= at < p.logoff_s]
            for p in present[::-1][: -ch.count]:
                p.logoff_s = at + (float(rng.uniform(0.0, sp)) if sp > 0 else 0.0)
    for br in scenario.breaks:
        at = br.at_h * 3600.0
        on_duty = [i for i, p in enumerate(plans) if p.login_s <= at < p.logoff_s]
        chosen = rng.permutation(len(on_duty))[: br.count]
        for k in sorted(chosen.tolist()):
            start = at + (float(rng.uniform(0.0, br.spread_min * 60.0)) if br.spread_min else 0.0)
            plans[on_duty[k]].breaks.append((start, br.duration_min * 60.0))
    for p in plans:
        p.breaks.sort()
    return plans
