"""One agent, solved exactly: the best dialing decisions, against dialerd's predictive rule.

dialerd's predictive decides one call count at a time (the largest n whose expected abandons
stay under the planning rate) and never plans its later decisions. Whether a planner that did
could do better is a question this script answers exactly for the one case small enough to
solve: one agent, cycle after cycle. Its talk ends; its wrap-up ends ``W`` seconds later
(dialerd runs the wrap-up timer, so that is known); each second the dialer may place calls.
The first answer that finds the agent free (within the connect limit) ends the cycle; every
other answer is abandoned, and so is any later answer of a call still ringing then (one
agent: nobody else takes it). The cost of a cycle is the agent's idle seconds plus ``lam``
times its abandons; value iteration over (seconds of wrap-up left, ages of the calls ringing)
gives the best policy for each ``lam``, whose points trace the best talk-against-abandons
curve any decision rule can reach here. dialerd's own rule (``predictive_decision`` at fixed
planning rates, fed the scenario's true distributions) is run as a policy on the same
dynamics and read against that curve.

    .venv/bin/python bench/one_agent.py [--scenario bench/scenarios/s3-tiny.toml] [--lag 0,1]

The scenario gives the answer rate (its first value), the ring-to-answer law, the busy and
invalid shares, the connect limit, the minimum ring (the ring predictive uses) and a fixed
wrap-up. Time moves in steps of one second; an answer in a step comes at its middle.
``--lag`` sets ``dialerd.pacing.predictive.PAIRING_LAG_S`` for dialerd's rule (shipped: 1; 0 pairs
an answer with the agents free by the end of its second).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dialerd.bench.pacing.scenario import Scenario, load_scenario
from dialerd.domain.enums import DialMode
from dialerd.pacing import predictive
from dialerd.pacing.distributions import Empirical, Fixed, LogNormal
from dialerd.pacing.modes import predictive_decision
from dialerd.pacing.snapshot import Estimates, PacingSettings, Snapshot

MAX_IN_FLIGHT = 4
MAX_NEW = 3
#: Prices of an abandon, in idle seconds, whose best policies trace the curve.
LAMBDAS = tuple(round(50 * 1.2**i) for i in range(24))
RATES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05)

Ages = tuple[int, ...]


@dataclass(frozen=True)
class Calls:
    """One call's fate, second by second: answered (at D < ring), busy, invalid, or given up
    at the ring."""

    p: float
    busy: float
    busy_at: int
    invalid: float
    invalid_at: int
    ring: int
    mu: float
    sigma: float

    def f(self, x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * (1.0 + math.erf((math.log(x) - self.mu) / (self.sigma * math.sqrt(2.0))))

    def alive(self, a: int) -> float:
        """Mass of the calls still ringing at age ``a`` (no event before)."""
        if a >= self.ring:
            return 0.0
        rest = 1.0 - self.p - self.busy - self.invalid
        return (
            self.p * (1.0 - self.f(a))
            + self.busy * (a < self.busy_at)
            + self.invalid * (a < self.invalid_at)
            + rest
        )

    def step(self, a: int) -> tuple[float, float]:
        """(answered, ended unanswered) during the second [a, a + 1), given ringing at a."""
        s = self.alive(a)
        answered = self.p * (self.f(a + 1) - self.f(a)) / s
        ended = (s - self.alive(a + 1)) / s - answered
        return answered, max(ended, 0.0)

    def eventually(self, a: int) -> float:
        return self.p * (self.f(self.ring) - self.f(a)) / self.alive(a)


def calls_of(sc: Scenario) -> Calls:
    """The scenario's calls at its first answer rate, ringing the minimum ring."""
    if sc.ring.kind != "lognormal":
        raise SystemExit("one_agent: the ring-to-answer time must be lognormal")
    mu, sigma = LogNormal(sc.ring.mean, sc.ring.sd).log_params
    return Calls(
        p=sc.answer_rate[0][1],
        busy=sc.busy_share,
        busy_at=max(1, round(sc.busy_after_s)),
        invalid=sc.invalid_share,
        invalid_at=max(1, round(sc.invalid_after_s)),
        ring=int(min(sc.min_ring_s, sc.ring_timeout_s)),
        mu=mu,
        sigma=sigma,
    )


class Mdp:
    """The cycle as a finite problem: per (state, new calls) pair, its outcomes."""

    def __init__(self, calls: Calls, wrap: int, connect: float) -> None:
        self.calls, self.wrap, self.connect = calls, wrap, connect
        self.states: list[Ages] = [()]
        for m in range(1, MAX_IN_FLIGHT + 1):
            self.states += list(itertools.combinations_with_replacement(range(1, calls.ring), m))
        index = {s: i for i, s in enumerate(self.states)}
        steps = [calls.step(a) for a in range(calls.ring)]
        later = [calls.eventually(a) for a in range(calls.ring)]
        self.pair_state: list[int] = []
        self.pair_new: list[int] = []
        a_rows: list[int] = []
        a_cols: list[int] = []
        a_vals: list[float] = []
        z_rows: list[int] = []
        z_cols: list[int] = []
        z_vals: list[float] = []
        answers: list[float] = []
        after: list[float] = []
        any_answer: list[float] = []
        for si, s in enumerate(self.states):
            for n in range(min(MAX_NEW, MAX_IN_FLIGHT - len(s)) + 1):
                j = len(self.pair_state)
                self.pair_state.append(si)
                self.pair_new.append(n)
                out: dict[tuple[int, Ages], float] = {(0, ()): 1.0}
                for a in (0,) * n + s:
                    ans, end = steps[a]
                    nxt: dict[tuple[int, Ages], float] = {}
                    for (k, rest), q in out.items():
                        nxt[(k + 1, rest)] = nxt.get((k + 1, rest), 0.0) + q * ans
                        nxt[(k, rest)] = nxt.get((k, rest), 0.0) + q * end
                        if a + 1 < calls.ring:
                            r = tuple(sorted((*rest, a + 1)))
                            nxt[(k, r)] = nxt.get((k, r), 0.0) + q * (1.0 - ans - end)
                    out = nxt
                ek = ea = pa = 0.0
                for (k, rest), q in out.items():
                    col = index[rest]
                    a_rows.append(j)
                    a_cols.append(col)
                    a_vals.append(q)
                    ek += k * q
                    if k == 0:
                        z_rows.append(j)
                        z_cols.append(col)
                        z_vals.append(q)
                    else:
                        pa += q
                        ea += q * (k - 1 + sum(later[x] for x in rest))
                answers.append(ek)
                after.append(ea)
                any_answer.append(pa)
        self.n_pairs = len(self.pair_state)
        self.a = (np.array(a_rows), np.array(a_cols), np.array(a_vals))
        self.z = (np.array(z_rows), np.array(z_cols), np.array(z_vals))
        self.answers = np.array(answers)
        self.after = np.array(after)
        self.any = np.array(any_answer)
        self.ps = np.array(self.pair_state)
        self.pn = np.array(self.pair_new)

    def _mul(self, m: tuple[np.ndarray, np.ndarray, np.ndarray], v: np.ndarray) -> np.ndarray:
        rows, cols, vals = m
        out: np.ndarray = np.bincount(rows, weights=vals * v[cols], minlength=self.n_pairs)
        return out

    def _q(self, tau: int, v: np.ndarray, idle_w: float, ab_w: float) -> np.ndarray:
        """Cost of each pair at ``tau`` seconds of wrap-up left, ``v`` the values a second on."""
        if tau - 0.5 > self.connect:  # an answer now finds the agent still in wrap-up
            early: np.ndarray = ab_w * self.answers + self._mul(self.a, v)
            return early
        idle = (0.5 * self.any + (1.0 - self.any)) * idle_w if tau <= 0 else 0.0
        served: np.ndarray = idle + ab_w * self.after + self._mul(self.z, v)
        return served

    def _pick(self, q: np.ndarray, policy: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if policy is not None:
            return q[policy], policy
        best = np.full(len(self.states), np.inf)
        np.minimum.at(best, self.ps, q)
        chosen = np.full(len(self.states), -1)
        hit = np.flatnonzero(q <= best[self.ps] + 1e-12)
        chosen[self.ps[hit[::-1]]] = hit[::-1]  # the first (fewest new calls) of the ties
        return best, chosen

    def solve(
        self, idle_w: float, ab_w: float, policy: list[np.ndarray] | None = None
    ) -> tuple[float, list[np.ndarray]]:
        """Expected cost of a cycle from its start, and the policy (pair per state per tau)."""
        v = np.zeros(len(self.states))
        for _ in range(2000):
            nv, chosen0 = self._pick(self._q(0, v, idle_w, ab_w), policy[0] if policy else None)
            done = float(np.max(np.abs(nv - v))) < 1e-10
            v = nv
            if done:
                break
        chosen = [chosen0]
        for tau in range(1, self.wrap + 1):
            v, c = self._pick(self._q(tau, v, idle_w, ab_w), policy[tau] if policy else None)
            chosen.append(c)
        return float(v[0]), chosen

    def measure(self, policy: list[np.ndarray]) -> tuple[float, float]:
        """(idle seconds, abandons) per cycle under ``policy``."""
        return self.solve(1.0, 0.0, policy)[0], self.solve(0.0, 1.0, policy)[0]

    def pairs_of(self, counts: dict[tuple[int, int], int]) -> list[np.ndarray]:
        """A policy given as new calls per (tau, state) turned into pair indices."""
        pairs = zip(self.pair_state, self.pair_new, strict=True)
        lookup = {(s, n): j for j, (s, n) in enumerate(pairs)}
        return [
            np.array([lookup[(si, counts[(tau, si)])] for si in range(len(self.states))])
            for tau in range(self.wrap + 1)
        ]


def dialerd_rule(mdp: Mdp, sc: Scenario, calls: Calls, rate: float) -> dict[tuple[int, int], int]:
    """New calls per (tau, state) by ``predictive_decision`` at a fixed planning rate."""
    xs = np.linspace(0.0, float(calls.ring), 301)
    cdf = np.array([calls.f(x) for x in xs]) / calls.f(calls.ring)
    mean = float(np.sum(np.diff(cdf) * (xs[1:] + xs[:-1]) / 2.0))
    fails = 1.0 - calls.p * calls.f(calls.ring)
    pts: list[tuple[float, float]] = [(0.0, 0.0)]
    mass = 0.0
    for at, share in sorted(((calls.invalid_at, calls.invalid), (calls.busy_at, calls.busy))):
        if share > 0:
            pts += [(at - 1e-3, mass), (float(at), mass + share / fails)]
            mass += share / fails
    pts += [(calls.ring - 1e-3, mass), (float(calls.ring), 1.0)]
    failure = Empirical(
        np.array([p[0] for p in pts]),
        np.array([p[1] for p in pts]),
        sum(b[0] * (b[1] - a[1]) for a, b in itertools.pairwise(pts)),
    )
    est = Estimates(
        answer_probability=calls.p * calls.f(calls.ring),
        answer_delay=Empirical(xs, cdf, mean),
        failure_delay=failure,
        talk=LogNormal(sc.talk.mean, sc.talk.sd or 0.6 * sc.talk.mean),
        wrapup=Fixed(float(mdp.wrap)),
        samples=1_000_000,
        answered_samples=100_000,
    )
    st = PacingSettings(
        dial_mode=DialMode.PREDICTIVE,
        min_agents_predictive=1,
        connect_limit_s=sc.connect_limit_s,
        ring_timeout_s=sc.ring_timeout_s,
        min_ring_s=sc.min_ring_s,
    )
    counts = {}
    for tau in range(mdp.wrap + 1):
        for si, s in enumerate(mdp.states):
            snap = Snapshot(
                settings=st,
                estimates=est,
                free_lines=min(MAX_NEW, MAX_IN_FLIGHT - len(s)),
                ready=(0.0,) if tau == 0 else (),
                wrapup=(float(tau),) if tau else (),
                ringing=tuple(float(a) for a in s),
            )
            counts[(tau, si)] = predictive_decision(snap, rate)
    return counts


def _curve(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The lower convex hull of (abandons, idle) points: mixing two policies reaches any
    point between them."""
    hull: list[tuple[float, float]] = []
    for p in sorted(set(points)):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return [p for i, p in enumerate(hull) if i == 0 or p[1] < hull[i - 1][1]]


def _idle_at(curve: Sequence[tuple[float, float]], ab: float) -> float:
    xs = [p[0] for p in curve]
    return float(np.interp(ab, xs, [p[1] for p in curve]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="bench/scenarios/s3-tiny.toml")
    ap.add_argument(
        "--lag", default="1", help="PAIRING_LAG_S values for dialerd's rule (shipped: 1)"
    )
    args = ap.parse_args(argv)
    sc = load_scenario(Path(args.scenario))
    if sc.wrapup.kind != "fixed" or sc.amd:
        raise SystemExit("one_agent: needs a fixed wrap-up and no AMD")
    calls = calls_of(sc)
    ring = calls.ring
    wrap = round(sc.wrapup.mean)
    cycle = sc.talk.mean + wrap  # talk + wrap-up: the oracle's cycle
    mdp = Mdp(calls, wrap, sc.connect_limit_s)
    print(
        f"{sc.name}, one agent: {len(mdp.states)} states, {mdp.n_pairs} (state, new calls) "
        f"pairs; ring {ring} s, wrap-up {wrap} s, at most {MAX_IN_FLIGHT} calls in flight\n"
    )
    print("| policy | idle s a cycle | abandoned % of live | talk ÷ oracle | idle s on the curve |")
    print("|---|---|---|---|---|")
    best: dict[tuple[float, float], list[int]] = {}
    for lam in LAMBDAS:
        _, pol = mdp.solve(1.0, float(lam))
        idle, ab = mdp.measure(pol)
        best.setdefault((round(ab, 9), round(idle, 9)), []).append(lam)
    curve = _curve(best)
    for ab, idle in curve:  # the vertices of the curve, with the prices that chose them
        lams = best[(ab, idle)]
        price = f"{lams[0]}–{lams[-1]}" if len(lams) > 1 else f"{lams[0]}"
        name = f"best, {price} s per abandon"
        share = 100 * ab / (1 + ab)
        print(f"| {name} | {idle:.2f} | {share:.3f} | {cycle / (cycle + idle):.4f} | |")
    for lag in (float(x) for x in args.lag.split(",")):
        predictive.PAIRING_LAG_S = lag  # the rule's grid is rebuilt for each new settings
        for rate in RATES:
            idle, ab = mdp.measure(mdp.pairs_of(dialerd_rule(mdp, sc, calls, rate)))
            print(
                f"| dialerd @{100 * rate:g} %, lag {lag:g} s | {idle:.2f} | "
                f"{100 * ab / (1 + ab):.3f} | {cycle / (cycle + idle):.4f} | "
                f"{_idle_at(curve, ab):.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
