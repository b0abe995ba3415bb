"""Online estimators that the engine feeds from finished attempts and agent state changes.

Campaigns drift through the day (a poor list segment starts, talk gets longer after lunch), so
every estimator forgets: each new observation multiplies the weight of the older ones by
``2 ** (-1 / half_life)``. Each starts from a prior (generic defaults or the campaign's own
history) worth ``prior_weight`` observations, so the first decisions of a day are sane and the
campaign's own data takes over within minutes. They are plain state objects: pure, no clock.
"""

from __future__ import annotations

import math

import numpy as np

from dialerd.pacing import _kernels
from dialerd.pacing.distributions import Distribution, Empirical, FloatArray, LogNormal
from dialerd.pacing.snapshot import Estimates


class RateEstimator:
    """Share of successes that follows a sudden rise within dozens of outcomes, a fall slowly.

    Two estimates, and the larger one wins:

    * a recency-weighted average (``half_life`` observations): precise, but it needs hundreds
      of attempts to follow a step;
    * the posterior mean under change points (Adams and MacKay's online change-point
      detection, Beta-Bernoulli): a distribution over how many outcomes ago the rate last
      changed (``hazard`` per outcome), each length with its own recency-weighted counts. After a
      step from 10 % to 40 % the short lengths take over within a few dozen outcomes.

    The larger, because the two errors cost differently: an answer rate that is too low
    over-dials, and answers that find no agent are abandoned in bursts that an hour's budget
    cannot take; one that is too high leaves agents idle for a while. So a rise (a better list
    segment, the hour people come home) is followed at the speed of the evidence, a fall at the
    average's pace (a posterior mean alone, following falls as fast, over-dialed on every chance
    run of failures: on the bench's steady 50-agent day 11 of 12 days had an hour over 3 %).
    Measured on the bench (docs/pacing-experiments.md): the same talk time on the steady
    scenarios, and on answer rates that jump between 10 % and 40 % or 45 % more talk and about
    half the hours over 3 % where the jumps come every 20 minutes.
    """

    def __init__(
        self,
        prior: float,
        prior_weight: float = 10.0,
        half_life: float = 150.0,
        hazard: float = 5e-4,
        max_run: int = 300,
    ) -> None:
        if not 0.0 <= prior <= 1.0:
            raise ValueError("prior must be a probability")
        if prior_weight <= 0.0:
            raise ValueError("prior_weight must be positive")
        self._decay = 2.0 ** (-1.0 / half_life)
        self._hits = prior * prior_weight
        self._total = prior_weight
        self._hazard = hazard
        # run-length posterior and each length's (decayed) successes and failures; index 0 is
        # "changed just now"; the last slot keeps every length beyond max_run
        self._grown: FloatArray = np.zeros(max_run)  # scratch
        self._post: FloatArray = np.zeros(max_run)
        self._succ: FloatArray = np.zeros(max_run)
        self._fail: FloatArray = np.zeros(max_run)
        self._post[0] = 1.0
        self._succ[0] = prior * prior_weight
        self._fail[0] = (1.0 - prior) * prior_weight
        self._runs = 1
        self._value = prior

    def update(self, success: bool) -> None:
        x = 1.0 if success else 0.0
        self._hits = self._hits * self._decay + x
        self._total = self._total * self._decay + 1.0
        k = _kernels.kernels()
        update = change_point_update if k is None else k.change_point_update
        self._runs, self._value = update(
            self._post, self._succ, self._fail, self._grown, self._runs, x, self._hazard,
            self._decay, self._value,
        )  # fmt: skip

    @property
    def average(self) -> float:
        """The recency-weighted average alone: slow, but free of the change-point model's
        jumps on a short run of answers."""
        return self._hits / self._total

    @property
    def value(self) -> float:
        return max(self._value, self.average)


def change_point_update(
    post: FloatArray,
    succ: FloatArray,
    fail: FloatArray,
    grown: FloatArray,
    runs: int,
    x: float,
    hazard: float,
    decay: float,
    start: float,
) -> tuple[int, float]:
    """One outcome ``x`` (1 or 0) into the run-length posterior, in place; returns the number
    of run lengths kept and the posterior mean rate.

    numpy's version of :func:`dialerd.pacing._kernels.change_point_update`, operation for
    operation, so the two keep the same state bit for bit.
    """
    m = runs
    cap = post.shape[0]
    # each length's chance of this outcome; half an outcome each way keeps a certain prior
    # (a live share of 1) from giving a contrary outcome no chance at all
    hit = succ[:m] if x > 0.5 else fail[:m]
    np.multiply(post[:m], (hit + 0.5) / ((succ[:m] + fail[:m]) + 1.0), out=grown[:m])
    changed = float(grown[:m].sum()) * hazard
    grown[:m] *= 1.0 - hazard
    if m == cap:
        # the two longest lengths become one, with the counts of the likelier
        keep = cap - 1 if grown[cap - 1] >= grown[cap - 2] else cap - 2
        last_post = grown[cap - 2] + grown[cap - 1]
        last_succ = succ[keep] * decay + x
        last_fail = fail[keep] * decay + (1.0 - x)
        post[1 : cap - 1] = grown[: cap - 2]
        succ[1 : cap - 1] = succ[: cap - 2] * decay + x
        fail[1 : cap - 1] = fail[: cap - 2] * decay + (1.0 - x)
        post[cap - 1] = last_post
        succ[cap - 1] = last_succ
        fail[cap - 1] = last_fail
    else:
        post[1 : m + 1] = grown[:m]
        succ[1 : m + 1] = succ[:m] * decay + x
        fail[1 : m + 1] = fail[:m] * decay + (1.0 - x)
        m += 1
    # a new run starts from the current estimate with the weight of two outcomes
    post[0] = changed
    succ[0] = 2.0 * start
    fail[0] = 2.0 * (1.0 - start)
    post[:m] /= post[:m].sum()
    np.multiply(post[:m], succ[:m] / (succ[:m] + fail[:m]), out=grown[:m])
    return m, float(grown[:m].sum())


#: Log-spaced bin edges from 0.1 s to about 5.5 h, each bin about 7% wide.
_EDGES: FloatArray = np.concatenate(([0.0], np.geomspace(0.1, 20000.0, 181)))


class DistributionEstimator:
    """A learnt duration distribution: a recency-weighted histogram on log-spaced bins.

    The CDF is linear inside a bin, so a fixed duration (a wrap-up timer) is known to within
    about 7 %, and a heavy tail is whatever the campaign shows, not an assumed shape.
    Recency weighting is done by growing the weight of each new sample instead of shrinking all
    the old ones (same result, O(1) per update).
    """

    _LOG_LO = math.log(0.1)
    _LOG_STEP = (math.log(20000.0) - math.log(0.1)) / 180.0

    def __init__(
        self, prior: Distribution, prior_weight: float = 10.0, half_life: float = 400.0
    ) -> None:
        self._grow = 2.0 ** (1.0 / half_life)
        cdf = prior.cdf(_EDGES)
        cdf[0] = 0.0
        cdf[-1] = 1.0
        self._weights: FloatArray = np.diff(cdf) * prior_weight
        self._mean_sum = prior.mean * prior_weight
        self._total = prior_weight
        self._unit = 1.0
        self._cached: Empirical | None = None

    def update(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            return
        self._unit *= self._grow
        if seconds < 0.1:
            idx = 0
        else:
            idx = min(int((math.log(seconds) - self._LOG_LO) / self._LOG_STEP) + 1, 180)
        self._weights[idx] += self._unit
        self._mean_sum += seconds * self._unit
        self._total += self._unit
        if self._unit > 1e100:
            self._weights /= self._unit
            self._mean_sum /= self._unit
            self._total /= self._unit
            self._unit = 1.0
        self._cached = None

    @property
    def distribution(self) -> Empirical:
        if self._cached is None:
            # rebuilt on every estimates refresh after an update: np.add.accumulate and an
            # in-place division are np.cumsum and ``cum / cum[-1]`` (same values) without
            # their Python wrappers and a second array
            probs = np.empty(_EDGES.shape[0])
            probs[0] = 0.0
            np.add.accumulate(self._weights, out=probs[1:])
            probs /= probs[-1]
            self._cached = Empirical(_EDGES, probs, self._mean_sum / self._total)
        return self._cached


class OnlineEstimates:
    """The estimates a :class:`~dialerd.pacing.snapshot.Snapshot` carries, kept up to date.

    ``samples`` counts observed finished attempts (a campaign's history may be passed in as
    ``prior_samples``); predictive pacing waits for ``min_samples`` of them.
    """

    def __init__(
        self,
        prior: Estimates | None = None,
        prior_weight: float = 10.0,
        rate_half_life: float = 150.0,
        duration_half_life: float = 400.0,
        prior_samples: int = 0,
    ) -> None:
        p = prior or Estimates()
        self.answer = RateEstimator(p.answer_probability, prior_weight, rate_half_life)
        self.live = RateEstimator(p.live_share, prior_weight, rate_half_life)
        self.answer_delay = DistributionEstimator(p.answer_delay, prior_weight, duration_half_life)
        self.failure_delay = DistributionEstimator(
            p.failure_delay, prior_weight, duration_half_life
        )
        self.talk = DistributionEstimator(p.talk, prior_weight, duration_half_life)
        self.wrapup = DistributionEstimator(p.wrapup, prior_weight, duration_half_life)
        self.samples = prior_samples
        self.answered_samples = 0
        self._cached: Estimates | None = None

    def record_answer(self, ring_seconds: float) -> None:
        self.answer.update(True)
        self.answer_delay.update(ring_seconds)
        self.samples += 1
        self.answered_samples += 1
        self._cached = None

    def record_failure(self, ring_seconds: float) -> None:
        """An attempt that ended unanswered (busy, no answer, congestion, invalid)."""
        self.answer.update(False)
        self.failure_delay.update(ring_seconds)
        self.samples += 1
        self._cached = None

    def record_live(self, live: bool) -> None:
        """An answer was classified: a live person (True) or a machine (False)."""
        self.live.update(live)
        self._cached = None

    def record_talk(self, seconds: float) -> None:
        self.talk.update(seconds)
        self._cached = None

    def record_wrapup(self, seconds: float) -> None:
        self.wrapup.update(seconds)
        self._cached = None

    def estimates(self) -> Estimates:
        if self._cached is None:
            self._cached = Estimates(
                answer_probability=self.answer.value,
                live_share=self.live.value,
                answer_delay=self.answer_delay.distribution,
                failure_delay=self.failure_delay.distribution,
                talk=self.talk.distribution,
                wrapup=self.wrapup.distribution,
                samples=self.samples,
                answered_samples=self.answered_samples,
            )
        return self._cached


DEFAULT_PRIOR = Estimates(
    answer_probability=0.3,
    live_share=1.0,
    answer_delay=LogNormal(8.0, 4.0),
    failure_delay=LogNormal(20.0, 8.0),
    talk=LogNormal(150.0, 90.0),
    wrapup=LogNormal(20.0, 10.0),
)
