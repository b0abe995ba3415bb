r"""The predictive model: how many calls to place now so that agents wait little and callers
are abandoned within the target.

Notation at the snapshot's instant (time 0), on a grid of horizons h = 0, 1, ..., H seconds with
H = the ring time of the calls placed now (``ring_timeout(snapshot)``) + AMD delay (no call
placed now reaches an agent later than that), and the connect limit L (2 s):

* Agents free by ``h + L`` (an answer at h may wait L seconds for one; the grid's answers at h
  came in the second before it and are paired with the agents free by ``h - 1 + L``, see
  ``PAIRING_LAG_S``):
  ready agents (certain); wrap-up agents with remaining wrap-up w: 1 if w <= h + L;
  talking agents with talk so far e, talk time T and wrap-up W:
  ``a_i(h) = P(T - e + W <= h + L | T > e)`` from the campaign's learnt talk-time distribution
  conditioned on the elapsed talk (heavy tails: a long call tends to go on).
* Answers needing an agent by h: queued answers (certain); screening calls (AMD deciding) at the
  end of the AMD delay, with probability ``live_share``; a call ringing for r seconds:
  ``c_k(h) = P(answer) * (F_D(r + h - amd) - F_D(r)) / (P(answer) * S_D(r) + (1 - P(answer)) *
  S_F(r))`` -- answer chance conditioned on "still ringing at r" (D: ring-to-answer time, F:
  time until an unanswered call gives up, S = 1 - CDF); a new call: ``q(h) = P(answer) *
  need * F_D(h - amd)``.

Within the horizon an agent serves at most one answer (talk >> H), answers can only be served by
agents free by their arrival + L, and these sets are nested in time, so by Hall's theorem the
abandons among the calls now in flight plus n new ones are ``max_h (N(h) - A(h + L))^+``
with N answers and A free agents. N and A are sums of independent yes/no events, so
``X_h = N(h) - A(h+L) = Y_h - c_h`` with ``Y_h = sum Bernoulli(c_k(h)) + sum Bernoulli(1 - a_i(h))
+ Binomial(n, q(h))`` (a Poisson-binomial law, computed exactly for small teams and by its
normal approximation for large ones) and a constant c_h. Expected abandons are estimated as

    EA(n) = max_h E[(Y_h - c_h)^+]

and expected live answers ``EL(n) = sum_k c_k(H) + Q + n q(H)`` (live share applied).

Decision: the largest n <= free lines with ``EA(n) <= alpha_plan * EL(n)`` (and no single added
call with ``dEA > MARGINAL * alpha_plan * dEL``), at least the progressive number.
``alpha_plan = alpha / k`` where ``k`` is the campaign's measured ratio of abandons seen to
abandons planned (:mod:`dialerd.pacing.calibration`): ``max_h E[.]`` is at most ``E[max_h .]``,
later decisions add calls that compete for the same agents and the estimates lag, so the model
under-forecasts by a factor (2-4 on the bench) that differs between campaigns and is learnt.

``alpha`` is the rate the compliance windows can still afford (the controller): for each window
with live answers l, abandons a, target t and R expected further live answers (seconds left x
0.85 x active agents / (mean talk + mean wrap-up)) the budget is ``B = t (l + R) - a`` and

    alpha_w = max(0, B - m) / R,   m = max(0.5 + z sqrt(2 t R_60), z sqrt(2 t R_300))

spends what is left evenly over the rest of the window, keeping a margin of half an abandon
plus what the calls in flight may still bring over the next 60 s (R_60 live answers), or, when
larger, the upper confidence bound of the abandons of the next 5 minutes (R_300), which the
feedback cannot absorb any more before the window closes. Pacing
re-plans on every decision, so the measured abandons steer the rate: a window that has abandoned
little banks slack and dials harder later, one that has abandoned much dials softer. In the last
60 s of a fixed window the rate is also held to that of a fresh window (those calls abandon in
the next one). alpha = min over windows, at most t, at least ``FLOOR x t`` (a rate of 0 would
refuse even the calls with no real abandon risk; ``FLOOR_SPENT x t`` once ``B < 1``). At
``B < 0`` (target used up) pacing is progressive. It also falls back to progressive with fewer
than ``min_agents_predictive`` agents to take the campaign's answers (its own active agents and
those it shares with other campaigns, on one Asterisk: ``Snapshot.smoothing_agents``) or fewer than
``min_samples`` finished attempts.

A campaign with agents on several Asterisk servers is decided server by server (an answer is
connected on the server its call was placed on, to that server's agents only): each
snapshot holds one server's agents and calls (``Snapshot.campaign_agents`` set), alpha is the
campaign's (its windows forecast R from all its agents, ``Snapshot.window_agents``), so
``EA_s <= alpha_plan EL_s`` on each server sums to the campaign's ``EA <= alpha_plan EL``; the
budget the stress test and the pair guard read is shared by active agents
(``remaining_budget``), and so is the one abandon the pair guard lets through
(``pair_allowance``): the parts' allowances add up to what the window can take.

Last, a burst is stress-tested (:func:`stress_count`): were the answer rate back at its highest
of the last hour, the calls in flight must not be expected to spend more than the tightest
window has left; and a window that cannot take two more abandons is not risked on two at once
(:func:`pair_count`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np

from dialerd.pacing import _kernels
from dialerd.pacing import poisson_binomial as pb
from dialerd.pacing.distributions import (
    Distribution,
    Empirical,
    Fixed,
    FloatArray,
    conditional_cdf,
    normal_cdf,
)
from dialerd.pacing.ring import ring_timeout
from dialerd.pacing.snapshot import AbandonmentWindow, Estimates, PacingSettings, Snapshot

#: Up to this many uncertain items the exact (Poisson-binomial) law is used: the abandons the
#: model plans for sit in the right tail of ``Y_h``, where a normal approximation misses the skew
#: of sums of rare events (measured on s2-large: at a planned rate near 0.3 % the normal model
#: let through abandons at about 7 %). Above it (very large teams) the normal law is used.
EXACT_MAX_ITEMS = 160
#: An allowed rate above ``BURST x target`` is never used, however much slack a window banks.
BURST = 1.0
#: Seconds over which abandons already committed by calls in flight cannot be taken back.
REACT_S = 60.0
#: Seconds the window's feedback needs to absorb a run of bad luck: abandons over this horizon
#: are planned against a lower confidence bound of the budget, not its mean.
SETTLE_S = 300.0
#: Abandons kept in hand for the count being whole (see ``_window_rate``); binds only on tiny
#: teams, where a whole abandon (1.0, measured) left s3-tiny no budget at all at risk 0.5 %.
WHOLE = 0.5
#: Variance of a window's abandon count over its mean: abandons come in bursts (several answers
#: at once find no agent), so the count is over-dispersed against Poisson.
DISPERSION = 2.0
#: Live answers per agent per (talk + wrap-up) cycle: agents also wait between calls, and a
#: team can shrink before the window ends (shift ends, breaks), so the forecast of the window's
#: remaining live answers errs low: measured on s4-drift, 0.95 let hours where agents left
#: end above the target.
THROUGHPUT = 0.85
#: Lowest allowed rate, as a share of the target, while a window's budget is not used up.
#: At a planned rate of exactly 0 the model accepts only calls with no abandon risk at all,
#: which is progressive; a tiny rate already accepts the near-certain ones (pre-dialing for an
#: agent whose wrap-up ends before the call can be answered), and the step from 0 is the
#: steepest part of the talk-against-abandons curve (s3-tiny, 6 seeds: progressive 0.733 of
#: the oracle, a constant planned 0.05 % 0.79). ``FLOOR_SPENT`` applies once one more abandon
#: would break the window (the full floor there broke an hour on 2 of 20 more s1-small seeds).
#: Measured, seeds 1-40, every hour <= 3 % in 40/40 (s1) and 39/40 (s3) days: s1-small 0.862 ->
#: 0.872 of the oracle, s3-tiny 0.817 -> 0.826. With the 15 s ring (:mod:`dialerd.pacing.ring`)
#: ``FLOOR_SPENT`` 0.03 let 2 of 40 s3-tiny days break an hour, 0.01 none (for 0.001 of talk).
FLOOR = 0.1
FLOOR_SPENT = 0.01
#: Acceptance thresholds of a marginal call and of the whole set, as multiples of alpha.
MARGINAL = 3.0
TOTAL = 1.0
#: The answers counted at horizon h came in the second before it, and are paired with the
#: agents free by ``h + L - PAIRING_LAG_S``: 0 reads each answer at the end of its second
#: (an answer at h - 0.9 s is taken to wait until h + L: up to a second optimistic), 1 at its
#: start (up to a second pessimistic). 1: for one agent, solved exactly, the rule then lies on
#: the best curve of idle time against abandons (at 0 it idles the agent 1-5 s a cycle more at
#: the same abandonment), and on the bench abandons seen per abandon planned fall from 1.5-3.6 to
#: 1.1-1.9. Measured both ways: docs/pacing-experiments.md, "Answers inside a second of the grid".
PAIRING_LAG_S = 1.0
#: Once the tightest window cannot take two more abandons (budget below ``PAIR_BUDGET``), two
#: abandons of one burst would break it: the calls are cut until the expected abandons beyond
#: the first, ``max_h E[(Y_h - c_h - 1)^+]``, are at most ``PAIR_SHARE x alpha x EL(n)``
#: (:func:`pair_count`). Measured with ``PAIRING_LAG_S`` 1, whose better calibrated model
#: otherwise let pairs of abandons within a second break an hour on 5 of 80 s3-tiny days; a
#: share of 0.05 did as well on s3-tiny but broke 5 of 80 s1-small days against 3 at 0.02.
PAIR_BUDGET = 2.0
PAIR_SHARE = 0.02
#: A window whose whole allowance ``t (l + R)`` is under ``PAIR_BUDGET`` abandons (an hour of a
#: 5-agent team: about 1.7) takes one abandon and breaks on the second. The margin's normal
#: bound on an over-dispersed count does not describe that: after the first abandon the rate
#: falls to ``FLOOR_SPENT`` and the pair guard bounds two at once, so such a window plans at
#: ``risk x ONE_ABANDON_RISK_FACTOR`` (0.5 % -> 2 %). s3-tiny, seeds 1-240: 0.8476 -> 0.8502 of the
#: oracle's talk, days with an hour over 3 %: 5 -> 4 of 240 (docs/pacing-experiments.md).
ONE_ABANDON_RISK_FACTOR = 4.0
_EPS = 1e-6
_WRAP_POINTS = np.array([1.0 / 6.0, 0.5, 5.0 / 6.0])


@lru_cache(maxsize=64)
def _inverse_normal(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return lo


def allowed_rate(snapshot: Snapshot) -> float | None:
    """The abandonment rate the windows can afford from now on; None when one is used up."""
    st = snapshot.settings
    target = st.abandonment_target
    per_second = _live_per_second(snapshot)
    # below the predictive minimum the team is still logging in (or leaving): its forecast of
    # a window's live answers says nothing of the campaign's, and pacing is progressive anyway
    staffed = snapshot.window_agents >= st.min_agents_predictive
    burst = snapshot.abandon_burst
    rate = target * BURST
    for w in snapshot.windows:
        rate = min(rate, _window_rate(w, target, per_second, st.risk, staffed, burst))
        if rate < 0.0:
            return None
        if w.next_s > 0.0 and w.seconds_left < REACT_S:
            fresh = AbandonmentWindow(w.name, 0, 0, w.next_s)
            fresh_rate = _window_rate(fresh, target, per_second, st.risk, staffed, burst)
            rate = min(rate, max(0.0, fresh_rate))
    return rate


def planning_rate(snapshot: Snapshot) -> float | None:
    """The rate the model plans with: what the windows allow, over the measured calibration."""
    alpha = allowed_rate(snapshot)
    if alpha is None:
        return None
    return alpha / max(snapshot.calibration, 1e-3)


def _live_per_second(snapshot: Snapshot) -> float:
    """The live answers the campaign's team is expected to take per second from now on (all
    its agents also when the snapshot is one server's part: the windows are the campaign's)."""
    est = snapshot.estimates
    cycle = max(est.talk.mean + est.wrapup.mean, 1.0)
    return THROUGHPUT * max(snapshot.window_agents, 1) / cycle


def _window_rate(
    w: AbandonmentWindow,
    target: float,
    per_second: float,
    risk: float,
    staffed: bool,
    burst: int,
) -> float:
    """Spend what is left of the window's budget evenly over its expected live answers.

    Budget ``B = t (l + R) - b``. The policy re-plans on every decision, so it only needs a
    margin for what it cannot take back: one abandon (counts are whole) plus the abandons the
    calls already in flight may still bring over the reaction time (``z sqrt(t R_react)``), and
    at least the upper confidence bound of the abandons the feedback cannot yet correct over
    ``SETTLE_S`` (``z sqrt(t R_settle)``). On large teams the second term dominates (the last
    minutes of an hour bring tens of abandons whose Poisson noise the feedback no longer
    absorbs); on tiny teams the whole-abandon term does (one abandon is most of the budget).
    Abandons come in bursts, and the normal bound of an over-dispersed count has too thin a
    tail for a burst: on a campaign answered 5 % of the time, a run of answerers in the list
    (10 in 30 consecutive contacts) abandoned 9 callers within 8 s. So the whole abandon
    kept in hand grows by the last hour's largest burst (``Snapshot.abandon_burst``) less
    one; a campaign whose abandons come one at a time keeps its margin.
    The margins assume the model's forecasts are calibrated, which
    :mod:`dialerd.pacing.calibration` sees to (before it, a fixed reserve of two settle horizons
    stood in for the model's under-forecast and cost about 0.01 of the oracle's talk time).
    """
    remaining, budget = _budget(w, target, per_second)
    if budget < 0.0:
        return -1.0
    if remaining < 1.0:
        # the window's last seconds: its own budget decides whether one more abandon fits
        # (calls placed now still answer in it); the next window's rate is applied by the caller
        return target * BURST if budget >= 1.0 else FLOOR_SPENT * target
    if staffed and target * (w.live_answers + remaining) < PAIR_BUDGET:
        # a window that takes one abandon (see ONE_ABANDON_RISK_FACTOR)
        risk = min(risk * ONE_ABANDON_RISK_FACTOR, 0.5)
    z = _inverse_normal(1.0 - risk)
    react = min(remaining, REACT_S * per_second)
    settle = min(remaining, SETTLE_S * per_second)
    spread = z * math.sqrt(DISPERSION * target)
    # Late in the window an abandon can no longer be paid back: keep a whole one in hand,
    # and the rest of a burst as large as the last hour's largest (see ``abandon_burst``)
    whole = (1.0 if w.seconds_left < SETTLE_S else WHOLE) + max(burst - 1, 0)
    margin = max(whole + spread * math.sqrt(react), spread * math.sqrt(settle))
    rate = max(0.0, budget - margin) / remaining
    # near-certain calls stay allowed; more nearly certain once one more abandon would break it
    return max(rate, (FLOOR if budget >= 1.0 else FLOOR_SPENT) * target)


def _budget(w: AbandonmentWindow, target: float, per_second: float) -> tuple[float, float]:
    """The window's expected further live answers ``R`` and its budget ``t (l + R) - b``."""
    remaining = max(w.seconds_left, 0.0) * per_second
    return remaining, target * (w.live_answers + remaining) - w.abandoned


def _excess_table() -> tuple[FloatArray, FloatArray]:
    """``g(u) - max(u, 0)`` with ``g(u) = u Phi(u) + phi(u) = E[(U + u)^+]``, U standard normal.

    A table lookup replaces erf and exp on every decision (the normal path runs thousands of
    times per simulated hour); the tabulation error (< 1e-5) is far below the estimates' noise.
    """
    u = np.linspace(-9.0, 9.0, 3601)
    g = u * normal_cdf(u) + np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return u, g - np.maximum(u, 0.0)


_U, _G = _excess_table()


def _positive_part_normal(mean: FloatArray, var: FloatArray) -> FloatArray:
    """E[(Z)^+] for Z ~ Normal(mean, var), with a continuity correction of 1/2."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    m = mean + 0.5
    z = m / sd
    g = np.interp(z, _U, _G, left=0.0, right=0.0) + np.maximum(z, 0.0)
    out: FloatArray = np.maximum(sd * g - 0.5 * (mean > 0), 0.0)
    return out


@dataclass(frozen=True, slots=True)
class Model:
    """The snapshot turned into the law of ``Y_h`` (see the module docs)."""

    blocks: list[FloatArray]  # each row: P(item adds one to Y_h) on the grid
    c: FloatArray  # Y_h - c_h = answers - free agents
    q: FloatArray  # a new call's P(needs an agent by h)
    expected_need: float  # answers expected from the calls in flight
    live_of_need: float  # live persons per answer needing an agent

    @property
    def n_items(self) -> int:
        return sum(b.shape[0] for b in self.blocks)

    def expected_live(self, n: int) -> float:
        """``EL(n)``: the live answers expected from the calls in flight and ``n`` new ones."""
        return (self.expected_need + n * float(self.q[-1])) * self.live_of_need


def predictive_count(snapshot: Snapshot, floor: int, cap: int, alpha: float | None = None) -> int:
    """Calls to place now under the model above; ``floor`` is the progressive count.

    ``alpha``, when given, is the planning rate instead of :func:`planning_rate`'s (and the
    windows' :func:`stress_count` is not applied: a fixed rate knows no windows).
    """
    if cap <= floor:
        return max(0, cap)
    windowed = alpha is None
    if alpha is None:
        alpha = planning_rate(snapshot)
    if alpha is None:
        return floor
    m = build_model(snapshot)
    limit = max(0, cap)
    q_total = float(m.q[-1])
    if m.n_items <= EXACT_MAX_ITEMS:
        rows = _rows(m)
        n = _search_exact(rows, m.c, m.q, alpha, m.expected_need, q_total, m.live_of_need, limit)
    else:
        n = _search_normal(
            m.blocks, m.c, m.q, alpha, m.expected_need, q_total, m.live_of_need, limit
        )
    n = max(floor, min(n, limit))
    if n <= floor or not windowed:
        return n
    # the search accepted n: its expected abandons are at most alpha x its live answers
    planned = alpha * m.expected_live(n)
    n = stress_count(snapshot, floor, n, m, planned)
    return pair_count(snapshot, floor, n, m, alpha)


def remaining_budget(snapshot: Snapshot) -> float:
    """Abandons the tightest compliance window can still take: ``t (l + R) - b`` (inf with
    no window); of a part of the campaign (one server's), its share of them
    (``Snapshot.budget_share``), so that the parts together do not spend it twice."""
    left = _campaign_budget(snapshot)
    if snapshot.campaign_agents is None or not math.isfinite(left):
        return left
    return left * snapshot.budget_share


def _campaign_budget(snapshot: Snapshot) -> float:
    """What the campaign's tightest window can still take, ``t (l + R) - b`` (inf with no
    window), not shared out: the windows and their forecast are the campaign's."""
    target = snapshot.settings.abandonment_target
    per_second = _live_per_second(snapshot)
    return min((_budget(w, target, per_second)[1] for w in snapshot.windows), default=math.inf)


def pair_allowance(snapshot: Snapshot) -> float:
    """The abandons the pair guard (:func:`pair_count`) lets this snapshot spend before it
    bounds the rest: one for the whole campaign (a window that cannot take two more takes
    one); for one server's part of a campaign, its share (``Snapshot.budget_share``) of what
    the campaign's tightest window can take, ``max(B, 1)`` (one, as for the whole campaign,
    once less than one is left), at most one.

    Each part guarding one abandon of its own let one abandon on each of two servers break a
    window that could take one: the parts' allowances added up to the number of parts. Shared
    out, they add up to at most ``max(B, 1)``, and since ``(X_1 + ... + X_k - A)^+ <=
    (X_1 - a_1)^+ + ... + (X_k - a_k)^+`` whenever ``a_1 + ... + a_k <= A``, each part holding
    its expected abandons beyond ``a_s`` within ``PAIR_SHARE x alpha`` of its live answers
    holds the campaign's expected abandons beyond ``A`` within ``PAIR_SHARE x alpha`` of the
    campaign's, as one server's guard does. The share is by active agents, as the budget's:
    the windows forecast their live answers in proportion to them, and no part sees the
    others' calls."""
    if snapshot.campaign_agents is None:
        return 1.0
    left = _campaign_budget(snapshot)
    return min(1.0, snapshot.budget_share * max(left, 1.0))


def stress_count(snapshot: Snapshot, floor: int, n: int, model: Model, planned: float) -> int:
    """At most ``n`` calls, fewer where the calls in flight would spend more than the window
    has left were the answer rate back at its highest of the last hour.

    The model plans on the answer rate measured so far, and no estimator sees a rise before
    the calls placed on the old rate are answered. Most decisions place a few calls and a
    rise costs little, but a burst for many idle agents at a low rate (the start of an hour
    after one spent at progressive) is answered all at once: on the bench's s6-steps day
    (answer rate 10 % / 40 %, alternating every 30 min) 47 calls placed at 6:00 on a measured
    10 %, answered at 40 %, abandoned 19 callers within 15 s and the day ended above 3 %.
    So the calls in flight, the new ones with them, must expect at
    ``Snapshot.answer_probability_high`` no more abandons than the tightest window's remaining
    budget (over the calibration: the model's abandons are a lower bound). Counting the new
    calls alone is not enough: each decision of a run then adds its share, and at 1:00 on
    s6-steps seed 15 five decisions in a row added 61 calls to 40 already ringing (18 abandons
    in the hour). Where the rate has not fallen, or no window is set, nothing changes.

    ``model`` is the snapshot's model and ``planned`` a bound on its expected abandons with
    ``n`` new calls. Most decisions are cleared by a bound without a second model: a higher
    answer rate adds at most the extra answers it brings to the abandons (an answer chance
    grows with the rate, so each answer at the high rate can be paired with one at the
    estimate), a new call's by the ratio ``r`` of the rates and a ringing call's by at most
    ``r (1 - p) / (1 - p_high)``.
    """
    high = min(snapshot.answer_probability_high, 1.0)
    p = snapshot.estimates.answer_probability
    if high <= p * (1.0 + _EPS) or p <= 0.0:
        return n
    budget = remaining_budget(snapshot)
    if not math.isfinite(budget):
        return n
    cap = max(budget, 0.0) / max(snapshot.calibration, 1e-3)
    if high < 1.0:
        r = high / p
        extra = model.expected_need * (r * (1.0 - p) / (1.0 - high) - 1.0)
        extra += n * float(model.q[-1]) * (r - 1.0)
        if planned + extra <= cap:
            return n
    m = build_model(snapshot, answer_probability=high)
    curve = _excess(m, n)
    over = np.flatnonzero(curve[floor:] > cap + 1e-12)
    return n if over.shape[0] == 0 else floor + max(int(over[0]) - 1, 0)


def pair_count(snapshot: Snapshot, floor: int, n: int, model: Model, alpha: float) -> int:
    """At most ``n`` calls, fewer where a window that cannot take two more abandons would
    risk two at once.

    The search bounds the expected abandons, which a window with one whole abandon left can
    afford; what breaks it is a second one, and abandons come in bursts (two answers within a
    second for one agent). So with less than ``PAIR_BUDGET`` left in the tightest window, the
    largest count whose expected abandons beyond the first stay within ``PAIR_SHARE`` of the
    planned rate's share of its live answers. Only the exact law is read: on the teams where
    one abandon is most of an hour's budget it always applies. One server's part of a
    campaign counts beyond its share of the first abandon (:func:`pair_allowance`), so that
    the servers together do not spend it once each.
    """
    if n <= floor or model.n_items > EXACT_MAX_ITEMS or remaining_budget(snapshot) >= PAIR_BUDGET:
        return n
    curve = _excess(model, n, first=floor, beyond=pair_allowance(snapshot))
    for k in range(n, floor, -1):
        if float(curve[k - floor]) <= PAIR_SHARE * alpha * model.expected_live(k) + 1e-12:
            return k
    return floor


def _excess(m: Model, last: int, first: int = 0, beyond: float = 0.0) -> FloatArray:
    """``EA(first..last)``: the model's expected abandons with ``first`` to ``last`` new calls;
    with ``beyond`` > 0, those beyond the first ``beyond`` (``max_h E[(Y_h - c_h - beyond)^+]``)."""
    c = m.c + beyond
    if m.n_items <= EXACT_MAX_ITEMS:
        rows = _rows(m)
        return pb.excess_curve(1.0 - rows, rows.shape[0] - c, m.q, first, last)
    mean, var = _normal_moments(m.blocks, c)
    ns = np.arange(first, last + 1, dtype=np.float64)
    return _excess_normal(mean, var, m.q, ns)


def _rows(m: Model) -> FloatArray:
    """The model's items as the rows of one array (the exact law reads them so)."""
    if len(m.blocks) == 1:
        return m.blocks[0]
    return np.concatenate(m.blocks) if m.blocks else np.zeros((0, m.c.shape[0]))


def _normal_moments(blocks: list[FloatArray], c: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = -c
    var = np.zeros_like(c)
    for b in blocks:
        mean = mean + b.sum(axis=0)
        var = var + (b * (1.0 - b)).sum(axis=0)
    return mean, var


def _excess_normal(mean: FloatArray, var: FloatArray, q: FloatArray, ns: FloatArray) -> FloatArray:
    """``max_h E[(Y_h - c_h)^+]`` by the normal law, for each count of new calls in ``ns``."""
    out: FloatArray = _positive_part_normal(
        mean[None, :] + ns[:, None] * q[None, :], var[None, :] + ns[:, None] * (q * (1.0 - q))
    ).max(axis=1)
    return out


class _Static(NamedTuple):
    """What depends only on the estimates and settings (reused while they do not change).

    A named tuple, not a frozen dataclass: it is rebuilt on every estimates refresh (every
    other decision on the bench) and a tuple is built in a fraction of the time.
    """

    grid: FloatArray
    reach: FloatArray
    wraps: tuple[float, ...]
    q: FloatArray
    p: float
    need: float
    live_of_need: float
    shifted: FloatArray  # grid - amd, at least 0
    # for the compiled kernel (None: a distribution is not a learnt CDF, numpy does the work)
    compiled: _CompiledStatic | None


class _CompiledStatic(NamedTuple):
    """What the kernel reads besides the snapshot: the knots of the learnt talk, answer-delay
    and failure-delay CDFs, the wrap-up points, and the grid, the grid less the AMD delay and
    the reach as one array."""

    talk: tuple[FloatArray, FloatArray]
    answer: tuple[FloatArray, FloatArray]
    failure: tuple[FloatArray, FloatArray]
    wraps: FloatArray
    axes: FloatArray


class _Grid(NamedTuple):
    """The horizons of one campaign's settings and ring time (the grid, the reach, the grid
    less the AMD delay, and the three as one array for the kernel)."""

    settings: PacingSettings
    ring: float
    grid: FloatArray
    reach: FloatArray
    shifted: FloatArray
    axes: FloatArray


_last: list[tuple[object, object, _Static]] = []
_grids: list[_Grid] = []
# per input distribution, what was derived from it: an estimate that did not change since the
# last refresh is the same object (the estimators cache it), so most refreshes redo little
_derived: dict[str, tuple[object, object, Any]] = {}


def _static(snapshot: Snapshot) -> _Static:
    st = snapshot.settings
    est = snapshot.estimates
    last = _last[0] if _last else None
    if last is not None and last[0] is est and last[1] is st:
        return last[2]
    amd = st.amd_delay_s
    # calls placed now ring at most this long: no answer of theirs comes later
    ring = ring_timeout(snapshot)
    g = _grids[0] if _grids and _grids[0].settings is st and _grids[0].ring == ring else None
    if g is None:
        g = _new_grid(st, ring)
    grid = g.grid
    p = min(max(est.answer_probability, 0.0), 1.0)
    need = est.live_share if amd > 0.0 else 1.0
    q = p * need * _derive("answer", est.answer_delay, lambda d: d.cdf(g.shifted), g)
    if amd > 0.0:
        q[grid < amd] = 0.0
    wraps, wrap_array = _derive("wrapup", est.wrapup, _wraps, None)
    value = _Static(
        grid=grid,
        reach=g.reach,
        wraps=wraps,
        q=q,
        p=p,
        need=need,
        live_of_need=1.0 if amd > 0.0 else est.live_share,
        shifted=g.shifted,
        compiled=_compiled_static(est, wrap_array, g.axes),
    )
    _last[:] = [(est, st, value)]
    return value


def _new_grid(st: PacingSettings, ring: float) -> _Grid:
    amd = st.amd_delay_s
    grid = np.arange(0.0, math.ceil(ring + amd) + 1.0)
    reach = grid + (st.connect_limit_s - PAIRING_LAG_S)
    shifted = np.maximum(grid - amd, 0.0)
    value = _Grid(st, ring, grid, reach, shifted, np.stack((grid, shifted, reach)))
    _grids[:] = [value]
    _derived.clear()  # what was derived on another grid
    return value


_T = TypeVar("_T")


def _derive(slot: str, dist: Distribution, make: Callable[[Distribution], _T], key: object) -> _T:
    """``make(dist)``, kept while ``dist`` (and ``key``) are the same objects."""
    hit = _derived.get(slot)
    if hit is not None and hit[0] is dist and hit[1] is key:
        return cast(_T, hit[2])
    value = make(dist)
    _derived[slot] = (dist, key, value)
    return value


def _wraps(dist: Distribution) -> tuple[tuple[float, ...], FloatArray]:
    wraps = tuple(_wrap_points(dist))
    return wraps, np.array(wraps, dtype=np.float64)


def _compiled_static(est: Estimates, wraps: FloatArray, axes: FloatArray) -> _CompiledStatic | None:
    """The kernel's inputs, when every CDF the model reads is a learnt one (what the daemon
    and the benchmark always have) and the compiled kernels are there."""
    talk, answer, failure = est.talk, est.answer_delay, est.failure_delay
    if not (
        isinstance(talk, Empirical)
        and isinstance(answer, Empirical)
        and isinstance(failure, Empirical)
        and _kernels.kernels() is not None
    ):
        return None
    return _CompiledStatic(_knots(talk), _knots(answer), _knots(failure), wraps, axes)


def _knots(dist: Empirical) -> tuple[FloatArray, FloatArray]:
    """Knots as the kernel reads them (1-D float arrays; np.interp converts them alike)."""
    return (
        np.ascontiguousarray(dist.points, dtype=np.float64),
        np.ascontiguousarray(dist.probs, dtype=np.float64),
    )


_NO_TAILS = np.zeros((0, 1))


def build_model(snapshot: Snapshot, answer_probability: float | None = None) -> Model:
    """The snapshot's model; ``answer_probability`` replaces the estimated one (the stress
    test of :func:`stress_count`)."""
    k = _static(snapshot)
    if answer_probability is not None and answer_probability != k.p:
        if k.p <= 0.0:
            raise ValueError("a model at another answer probability needs an estimate above 0")
        # a new call's chance of needing an agent is proportional to the answer probability
        k = k._replace(p=answer_probability, q=k.q * (answer_probability / k.p))
    fast = k.compiled
    kernels = _kernels.kernels() if fast is not None else None
    if fast is None or kernels is None:
        return _build_model_numpy(snapshot, k)
    st = snapshot.settings
    args = (
        # one array for the four tuples: numpy's conversion costs per call more than per item
        np.array(
            snapshot.talking + snapshot.screening + snapshot.ringing + snapshot.wrapup,
            dtype=np.float64,
        ),
        len(snapshot.talking),
        len(snapshot.screening),
        len(snapshot.ringing),
        _NO_TAILS,
        *fast.talk,
        *fast.answer,
        *fast.failure,
        fast.axes,
        fast.wraps,
        len(snapshot.ready),
        len(snapshot.queued),
        float(st.amd_delay_s),
        k.p,
        k.need,
    )
    rows, c, expected_need, status = kernels.model_rows(*args)
    if status == 1:
        # an agent past the end of the learnt talk times: conditional_cdf's exponential tail
        mean = max(snapshot.estimates.talk.mean, 1e-3)
        tails = np.empty((len(k.wraps), k.reach.shape[0]))
        for i, w in enumerate(k.wraps):
            more = (k.reach - w)[None, :]
            tails[i] = (1.0 - np.exp(-np.maximum(more, 0.0) / mean))[0]
        rows, c, expected_need, status = kernels.model_rows(*args[:4], tails, *args[5:])
    if status:
        return _build_model_numpy(snapshot, k)
    blocks = [rows] if rows.shape[0] else []
    return Model(blocks, c, k.q, expected_need, k.live_of_need)


def _build_model_numpy(snapshot: Snapshot, k: _Static) -> Model:
    """``build_model`` in numpy (no numba, or distributions other than learnt CDFs)."""
    st = snapshot.settings
    est = snapshot.estimates
    amd = st.amd_delay_s
    reach = k.reach

    # --- agents free by h + L -------------------------------------------------------------
    certain: FloatArray = np.full(reach.shape, float(len(snapshot.ready)))
    if snapshot.wrapup:
        wr = np.sort(np.asarray(snapshot.wrapup))
        certain += np.searchsorted(wr, reach, side="right")
    # rows are probabilities that add one to Y_h; the parts become one array at the end, so
    # that the exact search reads its items as the rows of one array (no second stacking)
    parts: list[FloatArray] = []
    n_uncertain_agents = 0
    if snapshot.talking:
        e = np.asarray(snapshot.talking)
        if len(k.wraps) == 1:
            avail = _cond(est.talk, e, reach - k.wraps[0])
        else:
            avail = _cond(est.talk, e, reach - k.wraps[0])
            for w in k.wraps[1:]:
                avail += _cond(est.talk, e, reach - w)
            avail /= len(k.wraps)
        sure = avail[:, 0] > 1.0 - _EPS
        keep = avail[:, -1] > _EPS
        n_sure = int(np.count_nonzero(sure))
        if n_sure:
            certain += n_sure
            keep &= ~sure
        unsure = 1.0 - avail[keep]
        if unsure.shape[0]:
            n_uncertain_agents = unsure.shape[0]
            parts.append(unsure)

    # --- answers needing an agent by h ----------------------------------------------------
    p = k.p
    need = k.need
    queued = float(len(snapshot.queued))
    expected_need = queued
    if snapshot.screening:
        sc = np.asarray(snapshot.screening)
        rows = need * ((amd - sc)[:, None] <= k.grid[None, :]).astype(np.float64)
        parts.append(rows)
        expected_need += need * len(sc)
    if snapshot.ringing:
        r = np.asarray(snapshot.ringing)
        f_r = est.answer_delay.cdf(r)
        s_d = np.maximum(1.0 - f_r, 1e-9)
        s_f = 1.0 - est.failure_delay.cdf(r)
        # P(answer eventually | ringing at r) / S_D(r): one factor per call
        factor = (need * p) / np.maximum(p * s_d + (1.0 - p) * s_f, 1e-12)
        rows = est.answer_delay.cdf(r[:, None] + k.shifted[None, :])
        rows -= f_r[:, None]
        rows *= factor[:, None]
        if amd > 0.0:
            rows[:, k.grid < amd] = 0.0
        parts.append(rows)
        expected_need += float(rows[:, -1].sum())
    c = certain + (n_uncertain_agents - queued)
    blocks = [np.concatenate(parts)] if len(parts) > 1 else parts
    return Model(blocks, c, k.q, expected_need, k.live_of_need)


def _cond(dist: Distribution, e: FloatArray, more: FloatArray) -> FloatArray:
    """P(duration <= e + more | duration > e) for each e (rows) and more (columns)."""
    f_e = dist.cdf(e)
    surv = 1.0 - f_e
    if surv.min() <= 1e-6:
        return conditional_cdf(dist, e[:, None], more[None, :])
    out: FloatArray = dist.cdf(e[:, None] + more[None, :]) - f_e[:, None]
    out /= surv[:, None]  # every survival is above 1e-6 here
    # np.clip's Python wrapper costs more than the two ufuncs it ends in
    np.maximum(out, 0.0, out=out)
    np.minimum(out, 1.0, out=out)
    return out


def _wrap_points(dist: Distribution) -> list[float]:
    if isinstance(dist, Fixed):
        return [dist.value]
    if isinstance(dist, Empirical):
        points = [float(v) for v in np.interp(_WRAP_POINTS, dist.probs, dist.points)]
        if points[-1] - points[0] < 2.0:
            return [points[1]]
        return points
    return [dist.mean]


def _accept(ea: float, ea_prev: float, el: float, el_prev: float, alpha: float) -> bool:
    """The n-th call is placed when its own expected abandons per expected live answer stay
    under ``MARGINAL x alpha`` and the whole set in flight stays under ``TOTAL x alpha``."""
    marginal = ea - ea_prev <= MARGINAL * alpha * (el - el_prev) + 1e-12
    return marginal and ea <= TOTAL * alpha * el + 1e-12


def _search_exact(
    rows: FloatArray,
    c: FloatArray,
    q: FloatArray,
    alpha: float,
    expected_need: float,
    q_total: float,
    live_of_need: float,
    limit: int,
) -> int:
    # E[(Y_h - c_h)^+] from the lower tail of the complement count N - Y_h (see
    # dialerd.pacing.poisson_binomial); EA(n) comes for a range of n per kernel call, the
    # range doubling while every call is accepted. ``rows``: one item per row (the law does
    # not depend on their order).
    complement = 1.0 - rows
    start = rows.shape[0] - c
    ea_prev = 0.0
    el_prev = expected_need * live_of_need
    first, step = 0, 8
    while True:
        last = min(limit, first + step)
        curve = pb.excess_curve(complement, start, q, first, last).tolist()
        if first == 0:
            ea_prev = curve[0]
        for n in range(max(first, 1), last + 1):
            ea = curve[n - first]
            el = (expected_need + n * q_total) * live_of_need
            if not _accept(ea, ea_prev, el, el_prev, alpha):
                return n - 1
            ea_prev, el_prev = ea, el
        if last >= limit:
            return limit
        first, step = last + 1, step * 2


def _search_normal(
    blocks: list[FloatArray],
    c: FloatArray,
    q: FloatArray,
    alpha: float,
    expected_need: float,
    q_total: float,
    live_of_need: float,
    limit: int,
) -> int:
    mean, var = _normal_moments(blocks, c)
    start = 0
    block = 8
    ea_prev = el_prev = 0.0
    while start <= limit:
        ns = np.arange(start, min(limit, start + block - 1) + 1, dtype=np.float64)
        ea = _excess_normal(mean, var, q, ns)
        el = (expected_need + ns * q_total) * live_of_need
        for i, n in enumerate(ns.tolist()):
            if n > 0 and not _accept(float(ea[i]), ea_prev, float(el[i]), el_prev, alpha):
                return int(n) - 1
            ea_prev, el_prev = float(ea[i]), float(el[i])
        start += block
        block *= 2
    return limit
