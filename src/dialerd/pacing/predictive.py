r"""The predictive model: how many calls to place now so that agents wait little and callers
are abandoned within the target.

Notation at the snapshot's instant (time 0), on a grid of horizons h = 0, 1, ..., H seconds with
H = ring timeout + AMD delay (no call placed now reaches an agent later than that), and the
connect limit L (2 s):

* Agents free by ``h + L`` (an answer at h may wait L seconds for one):
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
the next one). alpha = min over windows, at most t. At ``B < 0`` (target used up) pacing is
progressive. It also falls back to progressive with fewer than ``min_agents_predictive`` active
agents or fewer than ``min_samples`` finished attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dialerd.pacing import poisson_binomial as pb
from dialerd.pacing.distributions import (
    Distribution,
    Empirical,
    Fixed,
    FloatArray,
    conditional_cdf,
    normal_cdf,
)
from dialerd.pacing.snapshot import AbandonmentWindow, Snapshot

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
#: Acceptance thresholds of a marginal call and of the whole set, as multiples of alpha.
MARGINAL = 3.0
TOTAL = 1.0
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
    est = snapshot.estimates
    cycle = max(est.talk.mean + est.wrapup.mean, 1.0)
    per_second = THROUGHPUT * max(snapshot.active_agents, 1) / cycle
    rate = target * BURST
    for w in snapshot.windows:
        rate = min(rate, _window_rate(w, target, per_second, st.risk))
        if rate < 0.0:
            return None
        if w.next_s > 0.0 and w.seconds_left < REACT_S:
            fresh = AbandonmentWindow(w.name, 0, 0, w.next_s)
            rate = min(rate, max(0.0, _window_rate(fresh, target, per_second, st.risk)))
    return rate


def planning_rate(snapshot: Snapshot) -> float | None:
    """The rate the model plans with: what the windows allow, over the measured calibration."""
    alpha = allowed_rate(snapshot)
    if alpha is None:
        return None
    return alpha / max(snapshot.calibration, 1e-3)


def _window_rate(w: AbandonmentWindow, target: float, per_second: float, risk: float) -> float:
    """Spend what is left of the window's budget evenly over its expected live answers.

    Budget ``B = t (l + R) - b``. The policy re-plans on every decision, so it only needs a
    margin for what it cannot take back: one abandon (counts are whole) plus the abandons the
    calls already in flight may still bring over the reaction time (``z sqrt(t R_react)``), and
    at least the upper confidence bound of the abandons the feedback cannot yet correct over
    ``SETTLE_S`` (``z sqrt(t R_settle)``). On large teams the second term dominates (the last
    minutes of an hour bring tens of abandons whose Poisson noise the feedback no longer
    absorbs); on tiny teams the whole-abandon term does (one abandon is most of the budget).
    The margins assume the model's forecasts are calibrated, which
    :mod:`dialerd.pacing.calibration` sees to (before it, a fixed reserve of two settle horizons
    stood in for the model's under-forecast and cost about 0.01 of the oracle's talk time).
    """
    remaining = max(w.seconds_left, 0.0) * per_second
    budget = target * (w.live_answers + remaining) - w.abandoned
    if budget < 0.0:
        return -1.0
    if remaining < 1.0:
        return target * BURST
    z = _inverse_normal(1.0 - risk)
    react = min(remaining, REACT_S * per_second)
    settle = min(remaining, SETTLE_S * per_second)
    spread = z * math.sqrt(DISPERSION * target)
    # Late in the window an abandon can no longer be paid back: keep a whole one in hand.
    whole = 1.0 if w.seconds_left < SETTLE_S else WHOLE
    margin = max(whole + spread * math.sqrt(react), spread * math.sqrt(settle))
    return max(0.0, budget - margin) / remaining


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


def predictive_count(snapshot: Snapshot, floor: int, cap: int) -> int:
    """Calls to place now under the model above; ``floor`` is the progressive count."""
    if cap <= floor:
        return max(0, cap)
    alpha = planning_rate(snapshot)
    if alpha is None:
        return floor
    m = build_model(snapshot)
    limit = max(0, cap)
    q_total = float(m.q[-1])
    if m.n_items <= EXACT_MAX_ITEMS:
        items = [row for b in m.blocks for row in b]
        n = _search_exact(items, m.c, m.q, alpha, m.expected_need, q_total, m.live_of_need, limit)
    else:
        n = _search_normal(
            m.blocks, m.c, m.q, alpha, m.expected_need, q_total, m.live_of_need, limit
        )
    return max(floor, min(n, limit))


@dataclass(frozen=True, slots=True)
class _Static:
    """What depends only on the estimates and settings (reused while they do not change)."""

    grid: FloatArray
    reach: FloatArray
    wraps: tuple[float, ...]
    q: FloatArray
    p: float
    need: float
    live_of_need: float
    shifted: FloatArray  # grid - amd, at least 0


_last: list[tuple[object, object, _Static]] = []


def _static(snapshot: Snapshot) -> _Static:
    st = snapshot.settings
    est = snapshot.estimates
    last = _last[0] if _last else None
    if last is not None and last[0] is est and last[1] is st:
        return last[2]
    amd = st.amd_delay_s
    if last is not None and last[1] is st:
        # new estimates, same settings (every estimates refresh): keep the grid
        grid, reach, shifted = last[2].grid, last[2].reach, last[2].shifted
    else:
        grid = np.arange(0.0, math.ceil(st.ring_timeout_s + amd) + 1.0)
        reach = grid + st.connect_limit_s
        shifted = np.maximum(grid - amd, 0.0)
    p = min(max(est.answer_probability, 0.0), 1.0)
    need = est.live_share if amd > 0.0 else 1.0
    q = p * need * est.answer_delay.cdf(shifted)
    if amd > 0.0:
        q[grid < amd] = 0.0
    value = _Static(
        grid=grid,
        reach=reach,
        wraps=tuple(_wrap_points(est.wrapup)),
        q=q,
        p=p,
        need=need,
        live_of_need=1.0 if amd > 0.0 else est.live_share,
        shifted=shifted,
    )
    _last[:] = [(est, st, value)]
    return value


def build_model(snapshot: Snapshot) -> Model:
    st = snapshot.settings
    est = snapshot.estimates
    amd = st.amd_delay_s
    k = _static(snapshot)
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
    items: list[FloatArray],
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
    # range doubling while every call is accepted.
    grid = c.shape[0]
    rows = items[0].base if items else None
    if not (
        isinstance(rows, np.ndarray)
        and rows.shape == (len(items), grid)
        and all(row.base is rows for row in items)
    ):
        # not the rows of build_model's one array (the law does not depend on their order)
        rows = np.array(items) if items else np.zeros((0, grid))
    complement = 1.0 - rows
    start = len(items) - c
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
    mean = -c
    var = np.zeros_like(c)
    for b in blocks:
        mean = mean + b.sum(axis=0)
        var = var + (b * (1.0 - b)).sum(axis=0)
    qv = q * (1.0 - q)
    start = 0
    block = 8
    ea_prev = el_prev = 0.0
    while start <= limit:
        ns = np.arange(start, min(limit, start + block - 1) + 1, dtype=np.float64)
        ea = _positive_part_normal(
            mean[None, :] + ns[:, None] * q[None, :], var[None, :] + ns[:, None] * qv
        ).max(axis=1)
        el = (expected_need + ns * q_total) * live_of_need
        for i, n in enumerate(ns.tolist()):
            if n > 0 and not _accept(float(ea[i]), ea_prev, float(el[i]), el_prev, alpha):
                return int(n) - 1
            ea_prev, el_prev = float(ea[i]), float(el[i])
        start += block
        block *= 2
    return limit
